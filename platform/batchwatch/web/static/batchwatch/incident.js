// Keyboard shortcuts of the incident page: a acknowledge, r resolve, e escalate (the action
// buttons marked data-key), s silence (the prefilled silence form), n focus the note box.
// A file of its own: the Content-Security-Policy refuses inline scripts.
(function () {
  "use strict";

  function typing(target) {
    if (!target) return false;
    var tag = target.tagName;
    return target.isContentEditable || tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    var key = event.key;
    if (key === "n") {
      var note = document.getElementById("note-text");
      if (note) {
        event.preventDefault();
        note.focus();
      }
      return;
    }
    if (["a", "r", "e", "s"].indexOf(key) < 0) return;
    var target = document.querySelector('[data-key="' + key + '"]');
    if (!target) return;
    event.preventDefault();
    var question = target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) return;
    // A button submits its form with its own name and value; a link is followed.
    target.click();
  });
})();
