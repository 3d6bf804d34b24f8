// The colour theme: the system's (prefers-color-scheme) unless the person chose light or dark
// with the toggle in the top bar; the choice is kept in localStorage and applied as
// <html data-theme="...">. Loaded in <head> without defer, so the first paint has the theme.
(function () {
  "use strict";
  var KEY = "batchwatch-theme";
  var NEXT = { auto: "dark", dark: "light", light: "auto" };
  var LABEL = { auto: "Auto", dark: "Dark", light: "Light" };
  var root = document.documentElement;

  function stored() {
    try {
      var value = window.localStorage.getItem(KEY);
      return value === "light" || value === "dark" ? value : "auto";
    } catch (e) {
      return "auto"; // storage refused (private mode, policy): follow the system
    }
  }

  function apply(choice) {
    if (choice === "auto") root.removeAttribute("data-theme");
    else root.setAttribute("data-theme", choice);
  }

  function store(choice) {
    try {
      if (choice === "auto") window.localStorage.removeItem(KEY);
      else window.localStorage.setItem(KEY, choice);
    } catch (e) {
      // Not kept across pages, still applied to this one.
    }
  }

  function show(choice) {
    document.querySelectorAll("[data-theme-toggle]").forEach(function (button) {
      button.querySelector("[data-theme-label]").textContent = LABEL[choice];
      button.title = "Colour theme: " + LABEL[choice].toLowerCase() + " (click to change)";
    });
  }

  var current = stored();
  apply(current);

  document.addEventListener("DOMContentLoaded", function () {
    show(current);
    document.querySelectorAll("[data-theme-toggle]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        current = NEXT[current];
        store(current);
        apply(current);
        show(current);
      });
    });
  });

  // Another tab changed it: follow.
  window.addEventListener("storage", function (event) {
    if (event.key !== KEY) return;
    current = stored();
    apply(current);
    show(current);
  });
})();
