// The job wizard (templates/job_new.html). Every step asks the server, which calls the same
// service functions as the `etl` command: tables and columns (`etl connection tables|columns`),
// a query's columns (`etl connection columns --query`, checked read-only by the reader), files
// (`etl connection files|detect`), and Review (`etl job apply --dry-run`). Nothing here decides
// what a job is: the form's fields become a job file on the server (ui_extension/wizard.py).
// Values from the server are only ever set as text, never as HTML.
"use strict";

(function () {
  var form = document.getElementById("wizard");
  if (!form) return;
  var $ = function (id) { return document.getElementById(id); };
  var BQ_TYPES = (form.getAttribute("data-bq-types") || "").split(",").filter(Boolean);
  var columns = [];
  var family = "sql";  // the chosen connection's kind: sql, bigquery, files, nosql

  function text(node, value) { node.textContent = value == null ? "" : String(value); }
  function option(select, value, label) {
    var o = document.createElement("option"); o.value = value; text(o, label == null ? value : label);
    select.appendChild(o); return o;
  }
  function cell(row, value, tag) {
    var c = document.createElement(tag || "td"); text(c, value); row.appendChild(c); return c;
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
  // A status line shows the outcome of the latest request that uses it: an earlier answer
  // arriving late (the tables list, while a query is checked) never overwrites it.
  var requests = 0;
  function loading(status) {
    if (!status) return 0;
    text(status, "Loading…"); status.classList.remove("error");
    return (status.dataset.request = String(++requests)) && requests;
  }
  function settle(status, mine, message, failed) {
    if (!status || String(mine) !== status.dataset.request) return;
    text(status, message); status.classList.toggle("error", !!failed);
  }
  function answer(r) {
    return r.json().then(function (body) {
      if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
      return body;
    });
  }
  function request(promise, status) {
    var mine = loading(status);
    return promise.then(answer)
      .then(function (body) { settle(status, mine, ""); return body; })
      .catch(function (e) { settle(status, mine, e.message, true); throw e; });
  }
  function getJSON(url, status) { return request(fetch(url), status); }
  function postJSON(url, data, status) {
    return request(console_post(url, JSON.stringify(data), "application/json"), status);
  }
  function q(params) {
    return Object.keys(params).filter(function (k) { return params[k]; })
      .map(function (k) { return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]); }).join("&");
  }
  function connectionUrl(what, extra) {
    return "/api/connections/" + encodeURIComponent($("connection").value) + "/" + what + (extra ? "?" + q(extra) : "");
  }
  function sourceKind() { return form.querySelector("input[name=source_kind]:checked").value; }
  function setSourceKind(kind) {
    form.querySelector("input[name=source_kind][value=" + kind + "]").checked = true;
    $("table-source").hidden = kind !== "table";
    $("query-source").hidden = kind !== "query";
    $("files-source").hidden = kind !== "files";
  }
  function tableName(value) { return value.toLowerCase().replace(/[^a-z0-9_]+/g, "_").replace(/^_+|_+$/g, ""); }

  // -- step 1: the connection decides the source step ---------------------------------------------
  $("connection").addEventListener("change", function () {
    if (!this.value) return;
    family = this.options[this.selectedIndex].getAttribute("data-kind") || "sql";
    var relational = family === "sql" || family === "bigquery";
    $("source-kind-field").hidden = !relational;
    $("typed-table-field").hidden = family !== "nosql";
    text($("schema-label"), { bigquery: "Dataset", nosql: "Database" }[family] || "Schema");
    text($("table-label"), family === "nosql" ? "Collection or key prefix" : "Table");
    clearColumns();
    if (family === "files") { setSourceKind("files"); show(2); listFiles(); return; }
    setSourceKind("table");
    getJSON(connectionUrl("schemas"), $("connection-status")).then(function (schemas) {
      var s = $("schema"); s.innerHTML = "";
      schemas.forEach(function (name) { option(s, name); });
      show(2); loadTables();
    });
  });
  form.querySelectorAll("input[name=source_kind]").forEach(function (radio) {
    radio.addEventListener("change", function () { setSourceKind(sourceKind()); clearColumns(); });
  });

  // -- step 2a: a table or collection ----------------------------------------------------------
  $("schema").addEventListener("change", function () { $("table").innerHTML = ""; loadTables(); });
  function loadTables() {
    getJSON(connectionUrl("tables", { schema: $("schema").value }), $("table-status")).then(function (tables) {
      // A table chosen (or a prefix typed) while the list was loading stays chosen.
      var t = $("table"), chosen = t.value;
      t.innerHTML = ""; option(t, "", "Choose…");
      tables.forEach(function (info) {
        var count = info.row_count == null ? "" : " (" + (info.estimated ? "~" : "") + info.row_count.toLocaleString("en") + " rows)";
        option(t, info.name, info.name + count);
      });
      if (chosen && ![].some.call(t.options, function (o) { return o.value === chosen; })) option(t, chosen);
      t.value = chosen;
    });
  }
  $("typed_table").addEventListener("change", function () {
    // A collection or key prefix discovery did not list: read the same way as a listed one.
    var name = this.value.trim(), t = $("table");
    if (!name) return;
    if (![].some.call(t.options, function (o) { return o.value === name; })) option(t, name);
    t.value = name; t.dispatchEvent(new Event("change"));
  });
  $("table").addEventListener("change", function () {
    if (!this.value) return;
    var params = { schema: $("schema").value, table: this.value };
    $("dest_table_new").value = "bq_" + tableName(this.value);
    getJSON(connectionUrl("columns", params), $("table-status")).then(function (found) {
      showColumns(found);
      return getJSON(connectionUrl("preview", params), $("table-status"));
    }).then(showPreview);
  });

  // -- step 2b: a query (the server checks it is one read-only SELECT before it runs) ----------
  $("check-query").addEventListener("click", function () {
    readSource({ kind: "query", query: $("query").value });
  });
  function readSource(source) {
    return postJSON(connectionUrl("source"), { source: source }, $("table-status")).then(function (found) {
      showColumns(found.columns); showPreview(found.preview);
    });
  }

  // -- step 2c: files: list, detect (the proposal of `etl connection detect`), read ------------
  $("list-files").addEventListener("click", listFiles);
  function listFiles() {
    var body = $("files-table").querySelector("tbody"); body.innerHTML = "";
    return postJSON(connectionUrl("files"), { prefix: $("prefix").value, glob: $("glob").value || "*" }, $("table-status"))
      .then(function (files) {
        var pick = $("detect_path"); pick.innerHTML = "";
        files.forEach(function (f) {
          var tr = document.createElement("tr");
          cell(tr, f.name); cell(tr, f.size.toLocaleString("en") + " B"); cell(tr, f.modified);
          body.appendChild(tr); option(pick, f.name);
        });
        if (!files.length) { text($("table-status"), "No file matches " + $("prefix").value + ($("glob").value || "*") + "."); return; }
        // A name from the glob without wildcards and extensions (orders_*.csv.gz: bq_orders).
        var base = tableName(($("glob").value || "").replace(/\.gz$/i, "").replace(/\.[a-z]+$/i, "").replace(/[*?]/g, ""));
        if (!$("dest_table_new").value) $("dest_table_new").value = "bq_" + (base || "files");
        return detect();
      });
  }
  $("detect").addEventListener("click", function () { detect(true); });
  $("detect_path").addEventListener("change", function () { detect(); });
  function csvOptions() {
    var delimiter = $("csv_delimiter").value === "\\t" ? "\t" : $("csv_delimiter").value;
    return { delimiter: delimiter, quote: $("csv_quote").value || null, encoding: $("csv_encoding").value,
             header: $("csv_header").checked, skip_rows: Number($("csv_skip_rows").value || 0) };
  }
  function detect(withOptions) {
    // The proposal for one file; "Detect again" passes the format and CSV options as set.
    var data = { path: $("detect_path").value };
    if (withOptions) { data.format = $("format").value; if (data.format === "csv") data.csv = csvOptions(); }
    return postJSON(connectionUrl("detect"), data, $("table-status")).then(function (found) {
      var source = found.source;
      $("format").value = source.format;
      if (source.csv) {
        $("csv_delimiter").value = source.csv.delimiter === "\t" ? "\\t" : source.csv.delimiter;
        $("csv_quote").value = source.csv.quote || "";
        $("csv_encoding").value = source.csv.encoding;
        $("csv_header").checked = source.csv.header;
        $("csv_skip_rows").value = source.csv.skip_rows;
      }
      $("csv-options").hidden = source.format !== "csv";
      var out = $("detect-output"); out.innerHTML = "";
      var p = document.createElement("p");
      text(p, "Detected from " + found.file.name + " (" + found.sample_rows + " rows sampled, at most " +
        Math.round(found.bytes_read_at_most / 1048576) + " MB read): format " + source.format +
        (source.csv ? ", delimiter " + JSON.stringify(source.csv.delimiter) + ", encoding " + source.csv.encoding +
          ", header " + (source.csv.header ? "yes" : "no") : "") + ".");
      out.appendChild(p);
      return readFiles();
    });
  }
  $("read-files").addEventListener("click", readFiles);
  $("format").addEventListener("change", function () { $("csv-options").hidden = this.value !== "csv"; });
  function readFiles() {
    // What the job will read: the prefix and glob as typed, with the format and options shown.
    var source = { kind: "files", prefix: $("prefix").value, glob: $("glob").value || "*", format: $("format").value };
    if (source.format === "csv") source.csv = csvOptions();
    return readSource(source);
  }

  // -- the columns: load or not, type override, key; and the preview ---------------------------
  function clearColumns() {
    columns = [];
    $("columns-table").querySelector("tbody").innerHTML = "";
    $("preview-table").querySelector("thead").innerHTML = "";
    $("preview-table").querySelector("tbody").innerHTML = "";
    $("cursor_column").innerHTML = "";
  }
  function showColumns(found) {
    columns = found;
    var keyed = ["merge", "history"].indexOf($("load_type").value) >= 0;
    var body = $("columns-table").querySelector("tbody"); body.innerHTML = "";
    found.forEach(function (c, i) {
      var tr = document.createElement("tr");
      var td = document.createElement("td");
      var box = document.createElement("input");
      box.type = "checkbox"; box.name = "columns"; box.value = c.name; box.checked = true; box.id = "col-" + i;
      // A file's trace columns (_etl_source_file, ...) always load; not part of the selection.
      box.disabled = !!c.always_loaded;
      var label = document.createElement("label"); label.htmlFor = box.id; label.className = "sr-only"; text(label, "Load " + c.name);
      td.appendChild(box); td.appendChild(label); tr.appendChild(td);
      var confidence = c.confidence + (c.detected ? " (detected)" : "");
      [c.name + (c.primary_key ? " (key)" : ""), c.source_type, c.bq_name, c.bq_type, confidence]
        .forEach(function (v) { cell(tr, v); });
      tr.lastChild.className = "confidence confidence-" + c.confidence;
      if (c.warnings && c.warnings.length) tr.lastChild.title = c.warnings.join("; ");
      var typeCell = document.createElement("td");
      var type = document.createElement("select");
      type.name = "type:" + c.name; type.setAttribute("aria-label", "BigQuery type of " + c.name);
      type.className = "type-override";
      option(type, "", "as proposed");
      BQ_TYPES.forEach(function (t) { option(type, t); });
      if (c.always_loaded) { type.disabled = true; tr.className = "always-loaded"; tr.title = "Always loaded: which file and row each row came from."; }
      typeCell.appendChild(type); tr.appendChild(typeCell);
      var keyCell = document.createElement("td"); keyCell.className = "key-cell"; keyCell.hidden = !keyed;
      var key = document.createElement("input");
      key.type = "checkbox"; key.name = "key_columns"; key.value = c.name; key.checked = !!c.primary_key;
      key.setAttribute("aria-label", "Key column " + c.name);
      keyCell.appendChild(key); tr.appendChild(keyCell);
      body.appendChild(tr);
    });
    // Only columns that can serve as a cursor, the recommended one (updated/modified, then
    // created timestamps) first and selected, with the reason shown.
    var cursor = $("cursor_column"); cursor.innerHTML = "";
    found.filter(function (c) { return c.cursor_rank !== null && c.cursor_rank !== undefined; })
      .sort(function (a, b) { return a.cursor_rank - b.cursor_rank; })
      .forEach(function (c) { option(cursor, c.name, c.name + " (" + c.bq_type + ")").setAttribute("data-reason", c.cursor_reason); });
    cursor.selectedIndex = cursor.options.length ? 0 : -1;
    cursor.onchange = showReason; showReason();
  }
  function showReason() {
    var cursor = $("cursor_column"), chosen = cursor.options[cursor.selectedIndex];
    text($("cursor-reason"), chosen ? chosen.getAttribute("data-reason") : "No column can serve as a cursor (a timestamp, date or growing number); override a column's type in step 2 if its text holds one.");
  }
  function showPreview(preview) {
    var head = $("preview-table").querySelector("thead"), body = $("preview-table").querySelector("tbody");
    head.innerHTML = ""; body.innerHTML = "";
    var tr = document.createElement("tr");
    preview.columns.forEach(function (c) { cell(tr, c, "th").scope = "col"; });
    head.appendChild(tr);
    preview.rows.forEach(function (row) {
      var r = document.createElement("tr");
      row.forEach(function (v) { cell(r, v === null ? "NULL" : (typeof v === "object" ? JSON.stringify(v) : v)); });
      body.appendChild(r);
    });
    text($("table-status"), preview.rows.length + " row(s) shown" + (sourceKind() === "files" ? " (of the newest matching file)" : "") +
      "; " + columns.length + " column(s).");
  }

  // -- step 3: load type --------------------------------------------------------------------------
  $("load_type").addEventListener("change", function () {
    var keyed = ["merge", "history"].indexOf(this.value) >= 0;
    // A transactional files job loads the new or changed files: it has no cursor.
    var cursor = keyed || (this.value === "transactional" && sourceKind() !== "files");
    $("transactional-fields").hidden = !cursor;
    $("merge-fields").hidden = !keyed;
    form.querySelectorAll(".key-cell").forEach(function (c) { c.hidden = !keyed; });
  });
  form.querySelectorAll("button.next").forEach(function (b) {
    b.addEventListener("click", function () {
      var next = Number(b.dataset.next);
      if (next === 4) loadDestinationTables();
      if (next === 6 && !$("name").value) {
        var base = sourceKind() === "table" ? $("table").value : $("dest_table_new").value.replace(/^bq_/, "");
        $("name").value = (base || "job").toLowerCase().replace(/[^a-z0-9_-]/g, "-").replace(/^[^a-z]+/, "") || "job";
      }
      show(next);
    });
  });

  // -- step 4: destination ------------------------------------------------------------------------
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
      var c = columns.find(function (x) { return x.name === box.value; });
      var override = form.querySelector("select[name='type:" + CSS.escape(box.value) + "']");
      if (c) chosen[c.bq_name] = (override && override.value) || c.bq_type;
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
        out.appendChild(reportTable("compatibility-report", ["Column", "Proposed", "In the table", "Fits"],
          report.columns.map(function (c) { return [c.column, c.proposed, c.existing || "(added as NULLABLE)", c.fits ? "✓" : "✗"]; })));
      });
  }
  function reportTable(id, headers, rows) {
    var t = document.createElement("table"); t.className = "table"; t.id = id;
    var head = document.createElement("thead"), tr = document.createElement("tr");
    headers.forEach(function (h) { cell(tr, h, "th").scope = "col"; });
    head.appendChild(tr); t.appendChild(head);
    var body = document.createElement("tbody");
    rows.forEach(function (row) { var r = document.createElement("tr"); row.forEach(function (v) { cell(r, v); }); body.appendChild(r); });
    t.appendChild(body);
    return t;
  }
  $("dest_table_existing").addEventListener("change", checkCompatibility);

  // -- step 5: schedule ---------------------------------------------------------------------------
  $("schedule_kind").addEventListener("change", function () {
    var kind = this.value;
    form.querySelectorAll(".sched").forEach(function (f) { f.hidden = !f.classList.contains("sched-" + kind); });
  });

  // -- step 6: review (`etl job apply --dry-run`) and create (`etl job apply`) -----------------
  $("review").addEventListener("click", function () {
    var out = $("review-output"); text(out, "Checking the source, the types and the destination…");
    $("create").disabled = true;
    console_post("/api/review", console_form_json(form), "application/json").then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (res) {
      out.innerHTML = "";
      if (!res.ok) { var e = document.createElement("p"); e.className = "error"; e.id = "review-error"; text(e, res.body.error); out.appendChild(e); return; }
      var b = res.body, p = document.createElement("p");
      var added = b.columns_to_add.length ? "; would add " + b.columns_to_add.join(", ") + " (NULLABLE)" : "";
      text(p, "Table " + b.table + (b.table_exists ? " exists and is compatible" + added : " would be created") +
        ". Schedule: " + b.schedule + (b.next_runs.length ? "; next runs " + b.next_runs.join(", ") : "") + ".");
      out.appendChild(p);
      b.warnings.forEach(function (w) { var x = document.createElement("p"); x.className = "warn"; text(x, "Warning: " + w); out.appendChild(x); });
      out.appendChild(reportTable("review-mapping", ["Source column", "Source type", "BigQuery column", "Type", "Confidence"],
        b.mapping.map(function (m) { return [m.source, m.source_type, m.column, m.type, m.confidence]; })));
      var pre = document.createElement("pre"); pre.className = "code"; pre.id = "review-yaml"; text(pre, b.yaml); out.appendChild(pre);
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
