// "Copy link" buttons: <button data-copy="ID" hidden> copies the text of the element ID.
// Hidden until this script runs, since without it they could do nothing; the link itself is
// always on the page to select by hand.
(function () {
  "use strict";
  function status(button, text) {
    var next = button.nextElementSibling;
    if (next && next.classList.contains("copy-status")) next.textContent = text;
  }
  function selectText(target) {
    var range = document.createRange();
    range.selectNodeContents(target);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = target.textContent.trim();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(
          function () { status(button, "Copied."); },
          function () { selectText(target); status(button, "Selected: press Ctrl+C (⌘C) to copy."); }
        );
      } else {
        selectText(target);
        status(button, "Selected: press Ctrl+C (⌘C) to copy.");
      }
    });
  });
})();
