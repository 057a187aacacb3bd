/* Centre de ressources: the guided fiche form and the fiche express
   (templates/contribute/form.html and express.html). The pages work without this file; it adds:
   - the word count under each answer, kept up to date while typing (« 132 mots — objectif
     80 à 200 »), at most every 800 ms; the server shows the same count on every page;
   - the themes most frequent for the chosen activity, ticked while the user has not touched
     the themes (the mapping comes from the server, in data-activity-themes);
   - a box that filters a long list of checkboxes (themes, schemes) or of options (the
     activity: its 26 options shrink to those holding the typed letters; the chosen one and
     « Aucune » stay);
   - a button that adds a row of partners or of funding (without it, rows appear on saving).
   AGPL-3.0-or-later. */
(function () {
  "use strict";
  var THROTTLE_MS = 800;

  function announce(text) {
    var region = document.getElementById("annonce");
    if (!region) return;
    region.textContent = "";
    window.setTimeout(function () { region.textContent = text; }, 100);
  }

  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  // Words as guidance.word_count counts them: pieces between spaces holding a letter or digit.
  function countWords(text) {
    var pieces = text.split(/\s+/);
    var count = 0;
    for (var i = 0; i < pieces.length; i++) {
      if (/[\p{L}\p{N}]/u.test(pieces[i])) count++;
    }
    return count;
  }

  function throttled(fn) {
    var timer = null;
    return function () {
      if (timer !== null) return;
      timer = window.setTimeout(function () { timer = null; fn(); }, THROTTLE_MS);
    };
  }

  function wordCounts(scope) {
    scope.querySelectorAll("textarea[data-words-output]").forEach(function (area) {
      var output = document.getElementById(area.getAttribute("data-words-output"));
      if (!output) return;
      var low = area.getAttribute("data-words-min");
      var high = area.getAttribute("data-words-max");
      var update = function () {
        var n = countWords(area.value);
        var text = n + (n < 2 ? " mot" : " mots") + " — objectif " + low + " à " + high;
        if (output.textContent !== text) output.textContent = text;
      };
      area.addEventListener("input", throttled(update));
    });
  }

  function themesFromActivity(form) {
    var select = form.querySelector("#champ-activity");
    var boxes = Array.prototype.slice.call(form.querySelectorAll("#champ-themes input[type=checkbox]"));
    if (!select || !boxes.length) return;
    var mapping;
    try { mapping = JSON.parse(form.getAttribute("data-activity-themes") || "{}"); } catch (e) { return; }
    // Themes already chosen (an edit, a page sent back) are the user's: never changed.
    var touched = boxes.some(function (box) { return box.checked; });
    var ticked = [];
    boxes.forEach(function (box) {
      box.addEventListener("change", function () { touched = true; });
    });
    select.addEventListener("change", function () {
      if (touched) return;
      ticked.forEach(function (box) { box.checked = false; });
      ticked = [];
      (mapping[select.value] || []).forEach(function (slug) {
        boxes.forEach(function (box) {
          if (box.value === slug && !box.checked) { box.checked = true; ticked.push(box); }
        });
      });
      if (ticked.length) {
        var names = ticked.map(function (box) { return box.parentNode.textContent.trim(); });
        announce("Thèmes cochés d'après l'activité : " + names.join(", ") + ". Vous pouvez les changer.");
      }
    });
  }

  // A search box that filters `list` (inserted before it), with a polite live state line.
  // `filter(query)` applies the folded query and returns the state text ("" for none);
  // Enter filters at once and never sends the form.
  function filterBox(list, id, labelText, className, filter) {
    var wrap = document.createElement("div");
    wrap.className = className;
    var label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = labelText;
    var input = document.createElement("input");
    input.type = "search";
    input.id = id;
    input.autocomplete = "off";
    input.setAttribute("aria-controls", list.id);
    var state = document.createElement("p");
    state.className = "hint list-filter-state";
    state.id = id + "-etat";
    state.setAttribute("aria-live", "polite");
    input.setAttribute("aria-describedby", state.id);
    wrap.appendChild(label);
    wrap.appendChild(input);
    wrap.appendChild(state);
    list.parentNode.insertBefore(wrap, list);
    var apply = function () { state.textContent = filter(fold(input.value.trim())); };
    input.addEventListener("input", throttled(apply));
    input.addEventListener("search", apply);
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); apply(); }
    });
  }

  function listFilter(fieldset, index) {
    var grid = fieldset.querySelector(".checkbox-grid");
    if (!grid) return;
    var id = "filtre-" + (fieldset.id || index);
    if (!grid.id) grid.id = id + "-liste";
    var items = Array.prototype.slice.call(grid.querySelectorAll("label.checkbox"));
    filterBox(grid, id, fieldset.getAttribute("data-filter-label"), "field list-filter", function (query) {
      var shown = 0;
      items.forEach(function (item) {
        var box = item.querySelector("input");
        var match = !query || fold(item.textContent).indexOf(query) !== -1 || (box && box.checked);
        item.hidden = !match;
        if (match) shown++;
      });
      return query ? shown + " sur " + items.length + " affichés (les cases cochées restent visibles)" : "";
    });
  }

  function optionFilter(field, index) {
    var select = field.querySelector("select");
    if (!select) return;
    // Options cannot be hidden in every browser: the list is rebuilt from the originals.
    var options = Array.prototype.slice.call(select.options);
    var choices = options.filter(function (option) { return option.value; });
    filterBox(select, "filtre-" + (select.id || index), field.getAttribute("data-filter-select"), "list-filter", function (query) {
      var chosen = select.value;
      var kept = options.filter(function (option) {
        return !option.value || option.value === chosen || !query || fold(option.textContent).indexOf(query) !== -1;
      });
      while (select.options.length) select.remove(0);
      kept.forEach(function (option) { select.add(option); });
      select.value = chosen;
      var shown = kept.filter(function (option) { return option.value; }).length;
      return query ? shown + " sur " + choices.length + " activités dans la liste (l'activité choisie y reste)" : "";
    });
  }

  function addRows(rows) {
    var label = rows.getAttribute("data-add-label");
    if (!label) return;
    var holder = document.createElement("p");
    holder.className = "rows-add";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "button button-small button-secondary";
    button.textContent = label;
    holder.appendChild(button);
    rows.parentNode.insertBefore(holder, rows.nextSibling);
    button.addEventListener("click", function () {
      var all = rows.querySelectorAll("[data-row]");
      var last = all[all.length - 1];
      if (!last) return;
      var number = all.length + 1;
      var row = last.cloneNode(true);
      row.querySelectorAll("input, select").forEach(function (field) {
        if (field.tagName === "SELECT") field.selectedIndex = 0; else field.value = "";
        field.removeAttribute("aria-invalid");
        field.id = field.id.replace(/-\d+$/, "-" + number);
      });
      row.querySelectorAll("label").forEach(function (item) {
        item.htmlFor = item.htmlFor.replace(/-\d+$/, "-" + number);
      });
      row.querySelectorAll(".visually-hidden").forEach(function (span) {
        span.textContent = span.textContent.replace(/\d+/, String(number));
      });
      rows.appendChild(row);
      var first = row.querySelector("input, select");
      if (first) first.focus();
      announce("Ligne " + number + " ajoutée.");
    });
  }

  function start() {
    var form = document.querySelector("form.guide-form");
    if (!form) return;
    wordCounts(form);
    if (form.hasAttribute("data-activity-themes")) themesFromActivity(form);
    form.querySelectorAll("fieldset[data-filter-label]").forEach(listFilter);
    form.querySelectorAll("[data-filter-select]").forEach(optionFilter);
    form.querySelectorAll("[data-rows]").forEach(addRows);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
