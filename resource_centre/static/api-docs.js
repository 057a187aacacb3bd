/* Centre de ressources: starts Swagger UI on /api/docs (templates/api_docs.html).
   An external file, not inline code, so that the page keeps the site's CSP. Swagger UI
   (SwaggerUIBundle) is served by the site itself; nothing is fetched from elsewhere: the
   online validator badge is off. Only GET is offered in "Try it out" (the API is read-only).
   AGPL-3.0-or-later. */
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") return;  // the fallback text stays
  var fallback = root.querySelector(".api-docs-fallback");
  if (fallback) fallback.remove();
  window.ui = window.SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    domNode: root,
    layout: "BaseLayout",
    presets: [window.SwaggerUIBundle.presets.apis],
    deepLinking: true,
    validatorUrl: null,
    supportedSubmitMethods: ["get"],
    displayRequestDuration: true,
    defaultModelsExpandDepth: 0,
    showExtensions: true,
    showCommonExtensions: true
  });
})();
