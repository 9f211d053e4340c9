// Small enhancements; every page works without them.
(function () {
  "use strict";

  // The workspace's links scroll sideways on a narrow screen: bring the current one into view.
  function showCurrentLink() {
    var nav = document.querySelector("nav.workspace");
    var current = nav && nav.querySelector("[aria-current=page]");
    if (current) {
      nav.scrollLeft = current.offsetLeft - (nav.clientWidth - current.offsetWidth) / 2;
    }
  }

  // A table wider than the screen scrolls inside its own box: let the keyboard reach it.
  function markScrollingTables() {
    document.querySelectorAll("main table").forEach(function (table) {
      if (table.scrollWidth > table.clientWidth) {
        table.setAttribute("tabindex", "0");
      } else {
        table.removeAttribute("tabindex");
      }
    });
  }

  // A new account or workspace starts in the browser's time zone (the field stays editable).
  function guessTimeZone() {
    document.querySelectorAll("form[data-guess-time-zone] [name=time_zone]").forEach(function (field) {
      if (!field.dataset.guessed) {
        field.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
        field.dataset.guessed = "true";
      }
    });
  }

  function enhance() {
    showCurrentLink();
    markScrollingTables();
    guessTimeZone();
  }

  document.addEventListener("DOMContentLoaded", enhance);
  document.addEventListener("htmx:afterSettle", enhance);
  window.addEventListener("resize", markScrollingTables);
})();
