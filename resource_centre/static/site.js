/* Centre de ressources: small enhancements; every page works without them.
   - filters open by default on wide screens (they stay folded on phones);
   - forms marked data-warn-unsaved warn before leaving with unsaved changes;
   - ticking a filter or changing the sort refreshes the results in place: the new state's
     URL goes into the history (the back button works), focus stays where it was and the
     new result count is announced to screen readers.
   AGPL-3.0-or-later. */
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.add("js");
  var wide = window.matchMedia("(min-width: 60em)");
  var controller = null;
  var shown = window.location.pathname + window.location.search;  // the state on screen

  function openWide(scope) {
    if (!wide.matches) return;
    scope.querySelectorAll("details[data-open-wide]").forEach(function (d) { d.open = true; });
  }

  function detailsKey(details) {
    if (details.id) return details.id;
    var owner = details.parentElement && details.parentElement.closest("[id]");
    return owner ? owner.id : null;
  }

  function formUrl(form) {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) {
      if (typeof value === "string" && value.trim() !== "") params.append(key, value.trim());
    });
    if (params.get("sort") === form.getAttribute("data-default-sort")) params.delete("sort");
    var query = params.toString();
    return form.getAttribute("action") + (query ? "?" + query : "");
  }

  function announce(text) {
    var region = document.getElementById("annonce");
    if (!region) return;
    region.textContent = "";
    window.setTimeout(function () { region.textContent = text; }, 100);
  }

  function refresh(url) {
    var main = document.getElementById("contenu");
    if (!main || !window.fetch || !window.DOMParser) { window.location.assign(url); return; }
    if (controller) controller.abort();
    controller = new AbortController();
    main.setAttribute("aria-busy", "true");
    fetch(url, { signal: controller.signal, credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (!response.ok || type.indexOf("text/html") !== 0) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("contenu");
        if (!fresh) throw new Error("no content");
        var activeId = document.activeElement ? document.activeElement.id : "";
        var open = {};
        main.querySelectorAll("details").forEach(function (d) { open[detailsKey(d)] = d.open; });
        main.innerHTML = fresh.innerHTML;
        var search = document.getElementById("recherche");
        var freshSearch = doc.getElementById("recherche");
        if (search && freshSearch) search.replaceWith(document.importNode(freshSearch, true));
        document.title = doc.title;
        if (url !== shown) window.history.pushState({ refreshed: true }, "", url);
        shown = url;
        main.querySelectorAll("details").forEach(function (d) {
          var key = detailsKey(d);
          if (key && Object.prototype.hasOwnProperty.call(open, key)) d.open = open[key];
        });
        var again = activeId && document.getElementById(activeId);
        if (again) again.focus();
        var heading = main.querySelector("[data-announce]");
        if (heading) announce(heading.textContent.replace(/\s+/g, " ").trim());
      })
      .catch(function (error) {
        if (error.name !== "AbortError") window.location.assign(url);
      })
      .finally(function () { main.removeAttribute("aria-busy"); });
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    var form = target.form;
    if (!form || form.id !== "filtres") return;
    if (target.type === "checkbox" || target.tagName === "SELECT") refresh(formUrl(form));
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.id !== "filtres") return;
    event.preventDefault();
    refresh(formUrl(form));
  });
  // Forms marked data-warn-unsaved ask before the page is left with changes not sent.
  var dirty = false;
  document.addEventListener("input", function (event) {
    if (event.target.form && event.target.form.hasAttribute("data-warn-unsaved")) dirty = true;
  });
  document.addEventListener("submit", function (event) {
    if (event.target.hasAttribute("data-warn-unsaved")) dirty = false;
  });
  window.addEventListener("beforeunload", function (event) {
    if (dirty) { event.preventDefault(); event.returnValue = ""; }
  });
  // Back and forward between refreshed states: load the state's page (not for #anchors).
  window.addEventListener("popstate", function () {
    if (window.location.pathname + window.location.search !== shown) window.location.reload();
  });
  if (wide.addEventListener) wide.addEventListener("change", function () { openWide(document); });
  openWide(document);
}());
