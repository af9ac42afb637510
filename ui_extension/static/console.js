// The ETL console's few behaviours: the security token on every form and call, confirmations,
// refresh while a run is live, and the job wizard. No inline script or handler exists in the
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
  var form = document.getElementById("wizard");
  if (!form) return;
  var $ = function (id) { return document.getElementById(id); };
  var columns = [];

  function text(node, value) { node.textContent = value == null ? "" : String(value); }
  function option(select, value, label) {
    var o = document.createElement("option"); o.value = value; text(o, label == null ? value : label);
    select.appendChild(o); return o;
  }
  function show(step) {
    var section = $("step-" + step);
    section.hidden = false;
    document.querySelectorAll(".steps li").forEach(function (li) {
      li.classList.toggle("done", Number(li.dataset.step) < step);
      li.classList.toggle("current", Number(li.dataset.step) === step);
    });
    var heading = section.querySelector("h2"); heading.setAttribute("tabindex", "-1"); heading.focus();
  }
  function getJSON(url, status) {
    if (status) { text(status, "Loading…"); status.classList.remove("error"); }
    return fetch(url).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
        if (status) text(status, "");
        return body;
      });
    }).catch(function (e) { if (status) { text(status, e.message); status.classList.add("error"); } throw e; });
  }
  function q(params) {
    return Object.keys(params).filter(function (k) { return params[k]; })
      .map(function (k) { return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]); }).join("&");
  }
  function connectionUrl(what, extra) {
    return "/api/connections/" + encodeURIComponent($("connection").value) + "/" + what + "?" + q(extra || {});
  }

  $("connection").addEventListener("change", function () {
    if (!this.value) return;
    getJSON(connectionUrl("schemas"), $("connection-status")).then(function (schemas) {
      var s = $("schema"); s.innerHTML = "";
      schemas.forEach(function (name) { option(s, name); });
      show(2); loadTables();
    });
  });
  $("schema").addEventListener("change", loadTables);
  function loadTables() {
    getJSON(connectionUrl("tables", { schema: $("schema").value }), $("table-status")).then(function (tables) {
      var t = $("table"); t.innerHTML = ""; option(t, "", "Choose…");
      tables.forEach(function (info) {
        var count = info.row_count == null ? "" : " (" + (info.estimated ? "~" : "") + info.row_count.toLocaleString("en") + " rows)";
        option(t, info.name, info.name + count);
      });
    });
  }
  $("table").addEventListener("change", function () {
    if (!this.value) return;
    var params = { schema: $("schema").value, table: this.value };
    $("dest_table_new").value = "bq_" + this.value.toLowerCase().replace(/[^a-z0-9_]/g, "_");
    getJSON(connectionUrl("columns", params), $("table-status")).then(function (found) {
      columns = found;
      var body = $("columns-table").querySelector("tbody"); body.innerHTML = "";
      var cursor = $("cursor_column"); cursor.innerHTML = "";
      found.forEach(function (c, i) {
        var tr = document.createElement("tr");
        var td = document.createElement("td");
        var box = document.createElement("input");
        box.type = "checkbox"; box.name = "columns"; box.value = c.name; box.checked = true; box.id = "col-" + i;
        var label = document.createElement("label"); label.htmlFor = box.id; label.className = "sr-only"; text(label, "Load " + c.name);
        td.appendChild(box); td.appendChild(label); tr.appendChild(td);
        [c.name + (c.primary_key ? " (key)" : ""), c.source_type, c.bq_name, c.bq_type, c.confidence + (c.detected ? " (detected)" : "")]
          .forEach(function (v) { var cell = document.createElement("td"); text(cell, v); tr.appendChild(cell); });
        body.appendChild(tr);
      });
      // Only columns that can serve as a cursor, the recommended one (updated/modified, then
      // created timestamps) first and selected, with the reason shown.
      found.filter(function (c) { return c.cursor_rank !== null && c.cursor_rank !== undefined; })
        .sort(function (a, b) { return a.cursor_rank - b.cursor_rank; })
        .forEach(function (c) { option(cursor, c.name, c.name + " (" + c.bq_type + ")"); cursor.lastChild.setAttribute("data-reason", c.cursor_reason); });
      var showReason = function () {
        var chosen = cursor.options[cursor.selectedIndex];
        text($("cursor-reason"), chosen ? chosen.getAttribute("data-reason") : "No column can serve as a cursor (a timestamp, date or growing number).");
      };
      cursor.selectedIndex = cursor.options.length ? 0 : -1;
      cursor.onchange = showReason; showReason();
      return getJSON(connectionUrl("preview", params), $("table-status"));
    }).then(function (preview) {
      var head = $("preview-table").querySelector("thead"), body = $("preview-table").querySelector("tbody");
      head.innerHTML = ""; body.innerHTML = "";
      var tr = document.createElement("tr");
      preview.columns.forEach(function (c) { var th = document.createElement("th"); th.scope = "col"; text(th, c); tr.appendChild(th); });
      head.appendChild(tr);
      preview.rows.forEach(function (row) {
        var r = document.createElement("tr");
        row.forEach(function (v) { var td = document.createElement("td"); text(td, v === null ? "NULL" : v); r.appendChild(td); });
        body.appendChild(r);
      });
      text($("table-status"), preview.rows.length + " row(s) shown; " + columns.length + " column(s).");
    });
  });
  $("load_type").addEventListener("change", function () {
    $("transactional-fields").hidden = ["transactional", "merge", "history"].indexOf(this.value) < 0;
    $("merge-fields").hidden = ["merge", "history"].indexOf(this.value) < 0;
  });
  form.querySelectorAll("button.next").forEach(function (b) {
    b.addEventListener("click", function () {
      var next = Number(b.dataset.next);
      if (next === 4) loadDestinationTables();
      if (next === 6 && !$("name").value) $("name").value = ($("table").value || "job").toLowerCase().replace(/[^a-z0-9_-]/g, "-");
      show(next);
    });
  });
  var destinationRequest = 0;
  function loadDestinationTables() {
    var url = "/api/destinations/" + encodeURIComponent($("destination").value) + "/tables?" + q({ dataset: $("dataset").value });
    var mine = ++destinationRequest;  // only the answer to the latest choice counts
    return getJSON(url, $("compatibility")).then(function (found) {
      if (mine !== destinationRequest) return;
      var s = $("dest_table_existing"); s.innerHTML = ""; option(s, "", "Choose…");
      found.tables.forEach(function (t) { option(s, t); });
      if (!$("dataset").value) $("dataset").placeholder = found.dataset + " (default)";
      if (!found.tables.length) text($("compatibility"), "Dataset " + found.dataset + " has no tables yet.");
    });
  }
  $("destination").addEventListener("change", loadDestinationTables);
  $("dataset").addEventListener("change", loadDestinationTables);
  form.querySelectorAll("input[name=dest_mode]").forEach(function (radio) {
    radio.addEventListener("change", function () {
      var existing = form.querySelector("input[name=dest_mode]:checked").value === "existing";
      $("existing-table-field").hidden = !existing; $("new-table-field").hidden = existing;
      if (!existing) text($("compatibility"), "");
    });
  });
  function checkCompatibility() {
    var table = $("dest_table_existing").value;
    if (!table) return;
    var chosen = {};
    form.querySelectorAll("input[name=columns]:checked").forEach(function (box) {
      var c = columns.find(function (x) { return x.name === box.value; }); if (c) chosen[c.bq_name] = c.bq_type;
    });
    console_post("/api/compatibility",
      JSON.stringify({ destination: $("destination").value, dataset: $("dataset").value || null, table: table, columns: chosen }),
      "application/json")
      .then(function (r) { return r.json(); }).then(function (report) {
        var out = $("compatibility"); out.innerHTML = "";
        if (report.error) { text(out, report.error); return; }
        var p = document.createElement("p"); p.className = report.compatible ? "ok" : "error";
        text(p, report.compatible ? "Compatible: every column can load into " + table + "." : "Not compatible: the columns marked ✗ cannot load into " + table + ".");
        out.appendChild(p);
        var t = document.createElement("table"); t.className = "table"; t.id = "compatibility-report";
        t.innerHTML = "<thead><tr><th scope='col'>Column</th><th scope='col'>Proposed</th><th scope='col'>In the table</th><th scope='col'>Fits</th></tr></thead>";
        var body = document.createElement("tbody");
        report.columns.forEach(function (c) {
          var tr = document.createElement("tr");
          [c.column, c.proposed, c.existing || "(added as NULLABLE)", c.fits ? "✓" : "✗"].forEach(function (v) { var td = document.createElement("td"); text(td, v); tr.appendChild(td); });
          body.appendChild(tr);
        });
        t.appendChild(body); out.appendChild(t);
      });
  }
  $("dest_table_existing").addEventListener("change", checkCompatibility);
  $("schedule_kind").addEventListener("change", function () {
    var kind = this.value;
    form.querySelectorAll(".sched").forEach(function (f) { f.hidden = !f.classList.contains("sched-" + kind); });
  });
  $("review").addEventListener("click", function () {
    var out = $("review-output"); text(out, "Checking…");
    console_post("/api/review", console_form_json(form), "application/json").then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (res) {
      out.innerHTML = "";
      if (!res.ok) { var e = document.createElement("p"); e.className = "error"; text(e, res.body.error); out.appendChild(e); $("create").disabled = true; return; }
      var p = document.createElement("p");
      text(p, "Schedule: " + res.body.schedule + (res.body.next_runs.length ? "; next runs " + res.body.next_runs.join(", ") : "") + ".");
      out.appendChild(p);
      res.body.warnings.forEach(function (w) { var x = document.createElement("p"); x.className = "warn"; text(x, "Warning: " + w); out.appendChild(x); });
      var pre = document.createElement("pre"); pre.className = "code"; pre.id = "review-yaml"; text(pre, res.body.yaml); out.appendChild(pre);
      $("create").disabled = false;
    }).catch(function (e) { text(out, "The review failed: " + e.message); });
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var error = $("wizard-error"); error.hidden = true;
    $("create").disabled = true; text($("create"), "Creating… (validating, creating the table, deploying)");
    console_post("/jobs/new", new URLSearchParams(new FormData(form))).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (res) {
      if (res.ok) { window.location.href = res.body.redirect; return; }
      text(error, res.body.error); error.hidden = false; $("create").disabled = false; text($("create"), "Create job");
    }).catch(function (e) {
      text(error, "Creating the job failed: " + e.message); error.hidden = false; $("create").disabled = false; text($("create"), "Create job");
    });
  });
})();

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
