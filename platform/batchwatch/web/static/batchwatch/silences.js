// The silence form: rows added and removed, times in the browser's zone, and a live preview
// of what the matchers hold now (POST /api/v1/silences/preview/, the same matching as the
// silence itself). Without this script the form still works: a blank row, times left blank
// (now, plus the duration) and a Preview button.
(function () {
  "use strict";

  var form = document.getElementById("new-silence");
  if (!form) {
    return;
  }
  var rows = form.querySelector("[data-matcher-rows]");
  var body = form.querySelector("[data-preview-body]");
  var starts = form.querySelector("[data-starts]");
  var ends = form.querySelector("[data-ends]");
  var hours = form.querySelector("[data-hours]");
  var timer = null;
  var sent = 0;

  // --- times: shown and typed in the browser's zone, sent with its name -----------------
  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }
  function localValue(date) {
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) +
      "T" + pad(date.getHours()) + ":" + pad(date.getMinutes());
  }
  var zone = "UTC";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch (e) {
    zone = "UTC";
  }
  if (form.dataset.fresh === "1") {
    // A new form: its times are the browser's own (a refused one keeps what was typed, in
    // the zone it was typed in).
    form.querySelector("[data-tz]").value = zone;
    form.querySelector("[data-tz-label]").textContent = zone;
    var now = new Date();
    var h = parseFloat(hours.value) || 2;
    starts.value = localValue(now);
    ends.value = localValue(new Date(now.getTime() + h * 3600000));
  }
  function endFromHours() {
    var h = parseFloat(hours.value);
    var from = starts.value ? new Date(starts.value) : new Date();
    if (h > 0 && !isNaN(from.getTime())) {
      ends.value = localValue(new Date(from.getTime() + h * 3600000));
    }
  }
  function hoursFromEnd() {
    var from = starts.value ? new Date(starts.value) : new Date();
    var to = new Date(ends.value);
    if (!isNaN(from.getTime()) && !isNaN(to.getTime()) && to > from) {
      hours.value = Math.round((to - from) / 900000) / 4;
    }
  }
  hours.addEventListener("input", endFromHours);
  starts.addEventListener("change", endFromHours);
  ends.addEventListener("change", hoursFromEnd);

  // --- matcher rows -----------------------------------------------------------------------
  function quoted(value) {
    return '"' + value.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';
  }
  function matchers() {
    var out = [];
    rows.querySelectorAll(".matcher-row").forEach(function (row) {
      var name = row.querySelector("[name=m_name]").value.trim();
      var value = row.querySelector("[name=m_value]").value;
      if (name || value) {
        out.push(name + row.querySelector("[name=m_op]").value + quoted(value));
      }
    });
    form.querySelector("[name=matchers]").value.split("\n").forEach(function (line) {
      if (line.trim()) {
        out.push(line.trim());
      }
    });
    return out;
  }
  function wireRow(row) {
    var remove = row.querySelector("[data-remove-row]");
    remove.hidden = false;
    remove.addEventListener("click", function () {
      var error = row.nextElementSibling;
      if (error && error.classList.contains("matcher-error")) {
        error.remove();
      }
      if (rows.querySelectorAll(".matcher-row").length > 1) {
        row.remove();
      } else {
        row.querySelectorAll("input").forEach(function (input) {
          input.value = "";
        });
      }
      schedule();
    });
  }
  rows.querySelectorAll(".matcher-row").forEach(wireRow);
  var add = form.querySelector("[data-add-row]");
  add.hidden = false;
  add.addEventListener("click", function () {
    var all = rows.querySelectorAll(".matcher-row");
    var row = all[all.length - 1].cloneNode(true);
    row.querySelectorAll("input").forEach(function (input) {
      input.value = "";
    });
    row.querySelector("select").value = "=";
    rows.appendChild(row);
    wireRow(row);
    row.querySelector("input").focus();
  });

  // --- the preview --------------------------------------------------------------------------
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined) {
      node.textContent = text;
    }
    if (cls) {
      node.className = cls;
    }
    return node;
  }
  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }
  function errorText(data) {
    if (!data || typeof data !== "object") {
      return "The preview is not available.";
    }
    if (data.detail) {
      return data.detail;
    }
    return Object.keys(data).map(function (key) {
      return [].concat(data[key]).join(" ");
    }).join(" ");
  }
  function show(data) {
    body.replaceChildren();
    var head = el("p");
    var alerts = el("strong", String(data.alert_count));
    alerts.dataset.alertCount = "";
    head.append(alerts, " firing alert" + (data.alert_count === 1 ? "" : "s") + " and ",
      el("strong", String(data.incident_count)),
      " open incident" + (data.incident_count === 1 ? "" : "s") + " for ");
    data.matchers.forEach(function (m) {
      head.append(el("code", m), " ");
    });
    body.append(head);
    if (data.alerts.length) {
      var list = el("ul", undefined, "plain");
      data.alerts.forEach(function (a) {
        var item = el("li", (a.summary || a.name) + " ");
        Object.keys(a.labels).forEach(function (k) {
          item.append(el("span", k + "=" + a.labels[k], "chip"), " ");
        });
        if (a.suppressed_reason) {
          item.append(el("span", "(held already: " + a.suppressed_reason + ")", "muted"));
        }
        list.append(item);
      });
      if (data.alert_count > data.alerts.length) {
        list.append(el("li", "… " + plural(data.alert_count, "alert") + " in all", "muted"));
      }
      body.append(list);
    }
    if (data.incidents.length) {
      var incidents = el("ul", undefined, "plain");
      data.incidents.forEach(function (i) {
        var item = el("li");
        var link = el("a", "#" + i.id + " " + i.title);
        link.href = form.dataset.incidentUrl.replace("/0/", "/" + i.id + "/");
        item.append(link, " ", el("span", i.state, "istate istate-" + i.state), " ",
          el("span", i.all_alerts_match ? "all its alerts" : "some of its alerts", "muted"));
        incidents.append(item);
      });
      body.append(incidents);
    }
  }
  function preview() {
    var list = matchers();
    var mine = ++sent;
    if (!list.length) {
      body.replaceChildren(el("p", "Add a matcher to see what it would hold.", "muted"));
      return;
    }
    fetch(form.dataset.previewUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value,
      },
      body: JSON.stringify({ matchers: list, team: form.querySelector("[name=team]").value }),
    }).then(function (response) {
      return response.json().then(function (data) {
        return { ok: response.ok, data: data };
      });
    }).then(function (result) {
      if (mine !== sent) {
        return; // an answer to matchers since changed
      }
      if (result.ok) {
        show(result.data);
      } else {
        body.replaceChildren(el("p", errorText(result.data), "error"));
      }
    }).catch(function () {
      if (mine === sent) {
        body.replaceChildren(el("p", "The preview is not available right now.", "muted"));
      }
    });
  }
  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(preview, 300);
  }
  form.addEventListener("input", function (event) {
    var name = event.target.name;
    if (name === "m_name" || name === "m_value" || name === "matchers") {
      schedule();
    }
  });
  form.addEventListener("change", function (event) {
    var name = event.target.name;
    if (name === "m_op" || name === "team") {
      schedule();
    }
  });
  if (matchers().length) {
    preview();
  }
})();
