/* Centre de ressources: suggestions as you type, and typing to filter a long facet.
   Every page works without this file: the search box is then a plain search box, and a long
   facet links to a page listing every value ("Voir les N valeurs").
   - Search boxes marked data-suggest="/api/suggest" become a combobox with a listbox popup
     (WAI-ARIA Authoring Practices, "list autocomplete with manual selection"): the
     suggestions come from the API 150 ms after the last key; Down and Up move through them,
     Enter opens the chosen one (without a choice, Enter searches the text as before), Escape
     closes the list (a second Escape empties the box), a click opens a suggestion; a polite
     live region says how many there are.
   - Long facets (a .facet-filter box, shown only with JavaScript) hide the values whose
     label does not hold the typed word starts, accents and case ignored.
   Both survive site.js's in-place refreshes: new boxes are set up as they appear.
   AGPL-3.0-or-later. */
(function () {
  "use strict";
  var DEBOUNCE_MS = 150;
  var MIN_CHARS = 2;
  var TYPES = { fiche: "Fiche", term: "Glossaire", facet: "Filtre" };
  var counter = 0;

  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/œ/g, "oe").replace(/æ/g, "ae");
  }

  function words(text) {
    return fold(text).split(/[^0-9a-z\u00c0-\u024f]+/).filter(function (w) { return w; });
  }

  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }

  // --- Combobox -------------------------------------------------------------------------

  function Combobox(input) {
    counter += 1;
    var self = this;
    this.input = input;
    this.endpoint = input.getAttribute("data-suggest");
    this.items = [];
    this.active = -1;
    this.timer = 0;
    this.controller = null;
    this.asked = "";
    var id = (input.id || "recherche") + "-suggestions";
    if (document.getElementById(id)) id += "-" + counter;
    this.list = document.createElement("ul");
    this.list.id = id;
    this.list.className = "suggest-list";
    this.list.setAttribute("role", "listbox");
    this.list.setAttribute("aria-label", "Suggestions");
    this.list.hidden = true;
    this.status = document.createElement("div");
    this.status.className = "visually-hidden";
    this.status.setAttribute("role", "status");
    this.status.setAttribute("aria-live", "polite");
    input.insertAdjacentElement("afterend", this.list);
    this.list.insertAdjacentElement("afterend", this.status);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", id);
    input.addEventListener("input", function () { self.schedule(); });
    input.addEventListener("keydown", function (event) { self.key(event); });
    input.addEventListener("blur", function () { self.close(); });
    this.list.addEventListener("mousedown", function (event) { event.preventDefault(); });
    this.list.addEventListener("click", function (event) {
      var option = event.target.closest("[role=option]");
      if (option) self.open(Number(option.getAttribute("data-index")));
    });
  }

  Combobox.prototype.schedule = function () {
    var self = this;
    window.clearTimeout(this.timer);
    var text = this.input.value.trim();
    if (words(text).join("").length < MIN_CHARS) {
      if (this.controller) this.controller.abort();
      this.asked = "";
      this.show([]);
      return;
    }
    this.timer = window.setTimeout(function () { self.fetch(text); }, DEBOUNCE_MS);
  };

  Combobox.prototype.fetch = function (text) {
    var self = this;
    if (text === this.asked) return;
    if (this.controller) this.controller.abort();
    this.controller = window.AbortController ? new AbortController() : null;
    this.asked = text;
    var url = this.endpoint + "?q=" + encodeURIComponent(text);
    fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      signal: this.controller ? this.controller.signal : undefined
    })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (body) {
        if (self.input.value.trim() !== text) return;  // typed on meanwhile
        self.show(Array.isArray(body.data) ? body.data : [], true);
      })
      .catch(function (error) {
        if (error.name !== "AbortError") { self.asked = ""; self.show([]); }
      });
  };

  Combobox.prototype.show = function (items, announce) {
    var list = this.list;
    this.items = items.filter(function (item) {
      return item && typeof item.label === "string" && /^(https?:\/\/|\/)/.test(item.url || "");
    });
    this.active = -1;
    this.input.removeAttribute("aria-activedescendant");
    while (list.firstChild) list.removeChild(list.firstChild);
    this.items.forEach(function (item, index) {
      var option = document.createElement("li");
      option.id = list.id + "-" + index;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      option.setAttribute("data-index", String(index));
      option.className = "suggest-option suggest-" + item.type;
      var label = document.createElement("span");
      label.className = "suggest-label";
      label.textContent = item.label;
      var kind = document.createElement("span");
      kind.className = "suggest-type";
      kind.textContent = TYPES[item.type] || "";
      option.appendChild(label);
      option.appendChild(document.createTextNode(" "));
      option.appendChild(kind);
      list.appendChild(option);
    });
    var open = this.items.length > 0 && document.activeElement === this.input;
    list.hidden = !open;
    this.input.setAttribute("aria-expanded", open ? "true" : "false");
    if (announce) {
      this.say(this.items.length
        ? plural(this.items.length, "suggestion", "suggestions") +
          " : flèches haut et bas pour les parcourir, Entrée pour ouvrir."
        : "Aucune suggestion.");
    }
  };

  Combobox.prototype.say = function (text) {
    var status = this.status;
    status.textContent = "";
    window.setTimeout(function () { status.textContent = text; }, 50);
  };

  Combobox.prototype.isOpen = function () { return !this.list.hidden; };

  Combobox.prototype.close = function () {
    window.clearTimeout(this.timer);
    this.list.hidden = true;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
    this.select(-1);
  };

  Combobox.prototype.select = function (index) {
    var options = this.list.children;
    for (var i = 0; i < options.length; i += 1) {
      options[i].setAttribute("aria-selected", i === index ? "true" : "false");
    }
    this.active = index;
    if (index >= 0 && options[index]) {
      this.input.setAttribute("aria-activedescendant", options[index].id);
      var option = options[index];
      var list = this.list;
      if (option.offsetTop < list.scrollTop) list.scrollTop = option.offsetTop;
      else if (option.offsetTop + option.offsetHeight > list.scrollTop + list.clientHeight) {
        list.scrollTop = option.offsetTop + option.offsetHeight - list.clientHeight;
      }
    } else {
      this.input.removeAttribute("aria-activedescendant");
    }
  };

  Combobox.prototype.reopen = function () {
    if (!this.items.length) return false;
    this.list.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
    return true;
  };

  Combobox.prototype.open = function (index) {
    var item = this.items[index];
    if (!item) return;
    this.close();
    window.location.assign(item.url);
  };

  Combobox.prototype.key = function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    var count = this.items.length;
    switch (event.key) {
      case "ArrowDown":
        if (!this.isOpen()) { if (this.reopen()) this.select(0); event.preventDefault(); return; }
        this.select(this.active + 1 < count ? this.active + 1 : 0);
        event.preventDefault();
        return;
      case "ArrowUp":
        if (!this.isOpen()) { if (this.reopen()) this.select(count - 1); event.preventDefault(); return; }
        this.select(this.active > 0 ? this.active - 1 : count - 1);
        event.preventDefault();
        return;
      case "Enter":
        if (this.isOpen() && this.active >= 0) { event.preventDefault(); this.open(this.active); }
        else this.close();  // the form searches the text
        return;
      case "Escape":
        if (this.isOpen()) { this.close(); event.preventDefault(); }
        else if (this.input.value) { this.input.value = ""; this.schedule(); event.preventDefault(); }
        return;
      case "Tab":
        this.close();
        return;
      default:
        return;
    }
  };

  // --- Long facets: typing filters the values -----------------------------------------

  var facetTexts = {};  // filter box id → text typed, kept across in-place refreshes

  function filterFacet(input) {
    var box = input.closest(".facet");
    if (!box) return;
    var typed = words(input.value);
    var shown = 0;
    box.querySelectorAll(".facet-values li").forEach(function (item) {
      var labelWords = words(item.textContent);
      var match = typed.every(function (t) {
        return labelWords.some(function (w) { return w.indexOf(t) === 0; });
      });
      item.hidden = !match;
      if (match) shown += 1;
    });
    var more = box.querySelector("details.facet-more");
    if (more) {
      if (typed.length) {
        if (!more.hasAttribute("data-was")) more.setAttribute("data-was", more.open ? "open" : "");
        more.open = true;
      } else if (more.hasAttribute("data-was")) {
        more.open = more.getAttribute("data-was") === "open";
        more.removeAttribute("data-was");
      }
    }
    var status = box.querySelector(".facet-filter-status");
    if (status) {
      status.textContent = typed.length
        ? (shown ? plural(shown, "valeur affichée", "valeurs affichées") : "Aucune valeur ne correspond.")
        : "";
    }
  }

  document.addEventListener("input", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches(".facet-filter input")) return;
    facetTexts[input.id] = input.value;
    filterFacet(input);
  });
  document.addEventListener("keydown", function (event) {
    // Enter in a filter box must not send the filters form.
    if (event.key === "Enter" && event.target.matches && event.target.matches(".facet-filter input")) {
      event.preventDefault();
    }
  });

  // --- Set up what is on the page, and what site.js puts there later ------------------

  function setUp(root) {
    root.querySelectorAll("input[data-suggest]").forEach(function (input) {
      if (input.getAttribute("role") !== "combobox") new Combobox(input);
    });
    root.querySelectorAll(".facet-filter input").forEach(function (input) {
      var text = facetTexts[input.id];
      if (text && !input.value) { input.value = text; filterFacet(input); }
    });
  }

  setUp(document);
  if (window.MutationObserver) {
    new MutationObserver(function (mutations) {
      var added = mutations.some(function (m) { return m.addedNodes.length > 0; });
      if (added) setUp(document);
    }).observe(document.body, { childList: true, subtree: true });
  }
}());
