// Run pipeline: runs per status (`monitor`'s session data, the counts it publishes on
// `run_counts`), what each pass process is doing, and the last transitions (feed `transitions`).
SocsWeb.registerPanel({
  agentClass: "RunPipeline",
  title: "Run pipeline",
  feeds: ["transitions"],
  render(el, { sessions, feeds, h, when }) {
    const counts = (sessions.monitor && sessions.monitor.data && sessions.monitor.data.counts) || null;
    const parts = [];
    const monitor = sessions.monitor;
    if (monitor && monitor.status === "done") {
      parts.push(h("p", { class: "failed monitor-ended", text: `monitor ended ${when(monitor.end_time)}: the counts below are as of then.` }));
    }
    if (!counts || !Object.keys(counts).length) {
      parts.push(h("p", { class: "note", text: "monitor has published no run counts yet." }));
    } else {
      // raw_<status> and processed_<status>, in the pipeline's order (as the agent sends
      // them), side by side: one row per step
      const column = (prefix) => Object.entries(counts).filter(([k]) => k.startsWith(prefix));
      const raw = column("raw_"), processed = column("processed_");
      const cells = ([k, n] = []) => k === undefined ? [h("td"), h("td")] : [
        h("td", { text: k.replace(/^(raw|processed)_/, "") }),
        h("td", { class: `num${n && /failed/.test(k) ? " failed" : ""}`, "data-status": k, text: String(n) })];
      parts.push(h("table", { class: "status-counts" },
        h("tr", {}, ["raw status", "runs", "processed", "runs"].map((t) => h("th", { text: t }))),
        Array.from({ length: Math.max(raw.length, processed.length) }, (_, i) =>
          h("tr", {}, ...cells(raw[i]), ...cells(processed[i])))));
    }
    parts.push(h("table", { class: "passes" },
      h("tr", {}, ["pass", "activity", "passes", "errors", "last pass"].map((t) => h("th", { text: t }))),
      ["transfer", "process", "archive"].map((name) => {
        const s = sessions[name];
        const d = (s && s.data) || {};
        const last = d.last_pass;
        const lastText = last ? `${last.done} done, ${last.failed} failed${last.failures && last.failures.length ? ` (${last.failures[0]})` : ""}` : "—";
        const activity = !s ? "not seen" : s.status === "done" ? `ended: ${s.success ? "stopped" : "failed"}` : d.activity || s.status;
        return h("tr", { "data-pass": name },
          h("td", { text: name }),
          h("td", { class: /^error/.test(activity) || (s && s.status === "done") ? "failed activity" : "activity", text: activity }),
          h("td", { class: "num", text: d.passes ?? "—" }),
          h("td", { class: `num${d.errors ? " failed" : ""}`, text: d.errors ?? "—" }),
          h("td", { class: last && last.failed ? "failed" : "", title: last ? `ended ${when(last.finished)}` : null, text: lastText }));
      })));
    const transitions = (feeds.transitions || []).slice(-8).reverse();
    parts.push(h("p", { class: "note", text: transitions.length ? "last transitions, newest first:" : "No transition seen since the dashboard started." }));
    if (transitions.length) {
      parts.push(h("table", { class: "transitions" },
        h("tr", {}, ["time", "run", "action", "now (raw/processed)"].map((t) => h("th", { text: t }))),
        transitions.map(({ payload: t }) => h("tr", { "data-run": t.run, title: `from ${t.from_status || "—"}: ${t.message || ""}` },
          h("td", { text: when(t.time) }), h("td", { text: t.run }),
          h("td", { class: t.exit_code ? "failed" : "", text: t.exit_code ? `${t.action} (exit ${t.exit_code}): ${t.message}` : t.action }),
          h("td", { text: t.to_status || "—" })))));
    }
    el.replaceChildren(...parts);
  },
});
