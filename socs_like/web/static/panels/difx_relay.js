// DiFX relay: the correlator's jobs with their progress, from `relay`'s session data.
SocsWeb.registerPanel({
  agentClass: "DiFXRelay",
  title: "DiFX jobs",
  render(el, { sessions, h, when }) {
    const data = sessions.relay && sessions.relay.data;
    if (!data) {
      el.replaceChildren(h("p", { class: "note", text: "relay has published no session data yet." }));
      return;
    }
    const jobs = Object.entries(data.jobs || {}).map(([job, row]) => ({ job, ...row }));
    el.replaceChildren(
      h("p", { class: data.connected ? "succeeded" : "failed",
               text: data.connected ? `connected to ${data.server}` : `not connected to ${data.server}: ${data.last_error}` }),
      jobs.length ? h("table", {},
        h("tr", {}, ["job", "state", "progress", "updated", "last alert"].map((t) => h("th", { text: t }))),
        jobs.map((j) => h("tr", { "data-job": j.job },
          h("td", { text: j.job }), h("td", { text: j.state || "—" }),
          h("td", {}, h("span", { class: "bar" }, h("span", { style: `width:${Math.min(100, j.progress || 0)}%` })),
            ` ${(j.progress || 0).toFixed(0)} %`),
          h("td", { text: when(j.updated) }), h("td", { text: j.last_alert || "" }))))
        : h("p", { class: "note", text: "No job reported by the correlator." }));
  },
});
