// Data logger (DataGrabber): the scheduler's last and next runs, the files of the last grab,
// and where the plot page is (a file on the agent's host, written by export_plots or a grab).
SocsWeb.registerPanel({
  agentClass: "DataGrabber",
  title: "Data logger",
  render(el, { sessions, h, dated }) {
    const grabs = ["grab_params", "grab_events"].map((op) => sessions[op]).filter((s) => s && s.data && s.data.reports);
    const last = grabs.sort((a, b) => (b.end_time || 0) - (a.end_time || 0))[0];
    const scheduler = sessions.scheduler && sessions.scheduler.data;
    // where the plot page is: said by export_plots, or by the newest parameter grab (which rebuilt it)
    const page = [sessions.export_plots, sessions.grab_params].filter((s) => s && s.data && s.data.page)
      .sort((a, b) => (b.end_time || 0) - (a.end_time || 0)).map((s) => s.data.page)[0];
    const parts = [];
    if (scheduler && scheduler.next) {
      parts.push(h("table", {},
        h("tr", {}, ["schedule", "last run", "outcome", "next"].map((t) => h("th", { text: t }))),
        Object.entries(scheduler.next).map(([name, next]) => {
          const run = (scheduler.last || {})[name];
          return h("tr", { "data-schedule": name }, h("td", { text: name }), h("td", { text: run ? dated(run.due) : "—" }),
            h("td", { class: run && !run.ok ? "failed" : "", text: run ? run.message : "" }), h("td", { text: dated(next) }));
        })));
    }
    if (last) {
      parts.push(h("p", { class: "note", text: `last grab: ${last.op_name}, ended ${dated(last.end_time)}` }),
        h("table", {},
          h("tr", {}, ["file", "datasets", "samples", "missing"].map((t) => h("th", { text: t }))),
          last.data.reports.map((r) => h("tr", { "data-file": r.file || "" },
            h("td", { class: "path", title: r.file || "", text: r.file ? r.file.split("/").pop() : "— (no file written)" }), h("td", { class: "num", text: r.datasets }),
            h("td", { class: "num", text: r.samples }),
            h("td", { class: Object.keys(r.missing).length ? "failed" : "", text: Object.keys(r.missing).join(", ") })))));
    }
    // The page is a file on the agent's host: the link opens it when the browser runs there too.
    parts.push(page
      ? h("p", { class: "note" }, "plot page: ", h("a", { class: "plot-page", href: `file://${page}`, text: page }))
      : h("p", { class: "note", text: "plot page: not said yet (a parameter grab or export_plots says where it is)" }));
    if (!last && !(scheduler && scheduler.next)) {
      const running = sessions.scheduler && sessions.scheduler.status === "running";
      parts.unshift(h("p", { class: "note", text: running ? "scheduler running: no run finished yet." : "No grab and no scheduler run yet." }));
    }
    el.replaceChildren(...parts);
  },
});
