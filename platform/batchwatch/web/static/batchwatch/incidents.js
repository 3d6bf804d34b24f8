// The incident list: a header checkbox ticks or clears every row shown. Without this script
// the rows are ticked one by one, or "Select all matching" acts on every incident the filters
// select.
(function () {
  "use strict";

  var form = document.getElementById("incidents-bulk");
  if (!form) {
    return;
  }
  var all = form.querySelector("[data-select-all]");
  if (!all) {
    return;
  }
  all.hidden = false;
  all.addEventListener("change", function () {
    var boxes = form.querySelectorAll("input[name=ids]");
    for (var i = 0; i < boxes.length; i++) {
      boxes[i].checked = all.checked;
    }
  });
})();
