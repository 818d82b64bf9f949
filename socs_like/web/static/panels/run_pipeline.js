// Run pipeline: runs per status (`monitor`'s session data, the counts it publishes on
// `run_counts`), what each pass process is doing, and the last transitions (feed `transitions`).
SocsWeb.registerPanel({
  agentClass: "RunPipeline",
  title: "Run pipeline",
  feeds: ["transitions"],
  render(el, { sessions, feeds, h, when }) {
    const counts = (sessions.monitor && sessions.monitor.data && sessions.monitor.data.counts) || null;
    const parts = [];
    if (!counts || !Object.keys(counts).length) {
      parts.push(h("p", { class: "note", text: "monitor has published no run counts yet." }));
    } else {
      // raw_<status> and processed_<status>, in the order the agent sends them (the pipeline's)
      const table = (prefix, title) => {
        const cells = Object.entries(counts).filter(([k]) => k.startsWith(prefix));
        return h("table", { class: "status-counts" },
          h("tr", {}, h("th", { text: title }), cells.map(([k]) => h("th", { text: k.slice(prefix.length) }))),
          h("tr", {}, h("td", { text: "runs" }),
            cells.map(([k, n]) => h("td", { class: `num${n && /failed/.test(k) ? " failed" : ""}`, "data-status": k, text: String(n) }))));
      };
      parts.push(table("raw_", "raw"), table("processed_", "processed"));
    }
    parts.push(h("table", { class: "passes" },
      h("tr", {}, ["pass", "activity", "passes", "errors", "last pass"].map((t) => h("th", { text: t }))),
      ["transfer", "process", "archive"].map((name) => {
        const s = sessions[name];
        const d = (s && s.data) || {};
        const last = d.last_pass;
        const lastText = last ? `${when(last.finished)}: ${last.done} done, ${last.failed} failed${last.failures && last.failures.length ? ` (${last.failures[0]})` : ""}` : "—";
        const activity = !s ? "not seen" : s.status === "done" ? `ended: ${s.success ? "stopped" : "failed"}` : d.activity || s.status;
        return h("tr", { "data-pass": name },
          h("td", { text: name }),
          h("td", { class: /^error/.test(activity) || (s && s.status === "done") ? "failed activity" : "activity", text: activity }),
          h("td", { class: "num", text: d.passes ?? "—" }),
          h("td", { class: `num${d.errors ? " failed" : ""}`, text: d.errors ?? "—" }),
          h("td", { class: last && last.failed ? "failed" : "", text: lastText }));
      })));
    const transitions = (feeds.transitions || []).slice(-8).reverse();
    parts.push(h("p", { class: "note", text: transitions.length ? "last transitions, newest first:" : "No transition seen since the dashboard started." }));
    if (transitions.length) {
      parts.push(h("table", { class: "transitions" },
        h("tr", {}, ["time", "run", "action", "from → to", "message"].map((t) => h("th", { text: t }))),
        transitions.map(({ payload: t }) => h("tr", { "data-run": t.run },
          h("td", { text: when(t.time) }), h("td", { text: t.run }), h("td", { text: t.action }),
          h("td", { text: `${t.from_status || "—"} → ${t.to_status || "—"}` }),
          h("td", { class: t.exit_code ? "failed" : "", text: t.message || "" })))));
    }
    el.replaceChildren(...parts);
  },
});
