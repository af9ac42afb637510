// The ETL console's few behaviours: the security token on every form and call, confirmations,
// refresh while a run is live (the job wizard is wizard.js). No inline script or handler exists in the
// pages (the Content-Security-Policy forbids them): behaviours hang on data- attributes here.
"use strict";

var CSRF_TOKEN = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

// Every state-changing call carries the token the server checks (ui_extension/security.py).
function console_post(url, body, contentType) {
  var headers = { "X-CSRF-Token": CSRF_TOKEN };
  if (contentType) headers["Content-Type"] = contentType;
  return fetch(url, { method: "POST", headers: headers, body: body, credentials: "same-origin" });
}

function console_form_json(form) {
  // A form's fields as a JSON object; a repeated field (checked columns) becomes a list.
  var data = {};
  new FormData(form).forEach(function (value, key) {
    if (!(key in data)) { data[key] = key === "columns" ? [value] : value; return; }
    if (!Array.isArray(data[key])) data[key] = [data[key]];
    data[key].push(value);
  });
  if (!("columns" in data)) data.columns = [];
  return JSON.stringify(data);
}

(function () {
  // Forms that post get the token, pages added later included; data-confirm asks first;
  // data-autosubmit submits its form on change; data-refresh-ms follows a live run.
  document.querySelectorAll("form").forEach(function (form) {
    if ((form.getAttribute("method") || "").toLowerCase() === "post" && !form.querySelector("input[name=csrf_token]")) {
      var input = document.createElement("input");
      input.type = "hidden"; input.name = "csrf_token"; input.value = CSRF_TOKEN;
      form.appendChild(input);
    }
    var question = form.getAttribute("data-confirm");
    if (question) form.addEventListener("submit", function (event) { if (!window.confirm(question)) event.preventDefault(); });
  });
  document.querySelectorAll("[data-autosubmit]").forEach(function (field) {
    field.addEventListener("change", function () { field.form.submit(); });
  });
  var refresh = Number(document.body.getAttribute("data-refresh-ms"));
  if (refresh > 0) console_refresh_when_live(refresh);
})();

function console_refresh_when_live(ms) {
  // Reload to follow a running run, unless the user is typing in a field.
  setTimeout(function () {
    var active = document.activeElement;
    if (active && /INPUT|SELECT|TEXTAREA/.test(active.tagName)) { console_refresh_when_live(ms); return; }
    window.location.reload();
  }, ms);
}

(function () {
  // Times are rendered in UTC by the server; shown here in the browser's own time zone (the
  // UTC value stays in the title).
  document.querySelectorAll("time[data-local]").forEach(function (element) {
    var when = new Date(element.getAttribute("datetime"));
    if (isNaN(when.getTime())) return;
    element.title = element.textContent.trim();
    element.textContent = when.toLocaleString(undefined, {
      year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit",
      second: "2-digit", timeZoneName: "short"
    });
    element.setAttribute("data-localised", "true");
  });
})();

(function () {
  // The connection form: Test, then Save. Save is shown only after a passing test of the
  // fields as they are now; any change hides it again (the server tests again on Save).
  var form = document.getElementById("connection-form");
  if (!form) return;
  var test = document.getElementById("connection-test");
  var save = document.getElementById("connection-save");
  var outcome = document.getElementById("connection-outcome");
  form.addEventListener("input", function () { save.hidden = true; });
  form.addEventListener("change", function () { save.hidden = true; });
  test.addEventListener("click", function () {
    save.hidden = true;
    outcome.textContent = "Testing…";
    outcome.className = "";
    console_post("/api/connections/test", console_form_json(form), "application/json")
      .then(function (r) { return r.json(); })
      .then(function (result) {
        var passed = result.status === "success";
        outcome.textContent = (passed ? "Test passed: " : "Test " + result.status + ": ") + result.message
          + (result.warning ? " Warning: " + result.warning : "");
        outcome.className = passed ? "flash notice" : "flash error";
        save.hidden = !passed;
      });
  });
  save.addEventListener("click", function () {
    console_post("/api/connections/save", console_form_json(form), "application/json")
      .then(function (r) { return r.json(); })
      .then(function (result) {
        if (result.redirect) { window.location.href = result.redirect; return; }
        outcome.textContent = result.error; outcome.className = "flash error"; save.hidden = true;
      });
  });
})();
