// DAQ workers: each worker's last reading, from `monitor`'s session data (MonitorData).
SocsWeb.registerPanel({
  agentClass: "DaqWorker",
  title: "DAQ workers",
  render(el, { sessions, h, when }) {
    const data = sessions.monitor && sessions.monitor.data;
    if (!data || !data.hosts) {
      el.replaceChildren(h("p", { class: "note", text: "monitor has published no sweep yet." }));
      return;
    }
    el.replaceChildren(
      h("p", { class: "note", text: `${data.sweeps} sweeps, last at ${when(data.timestamp)} (${data.sweep_seconds.toFixed(2)} s)` }),
      h("table", {},
        h("tr", {}, ["host", "state", "ECC server", "data router", "graw files", "problems"].map((t) => h("th", { text: t }))),
        Object.entries(data.hosts).map(([host, w]) => {
          // the state says the problems too: "ok" in green never sits beside a problem
          const problems = data.problems[host] || 0;
          const said = `${w.state}${problems ? `, ${problems} problem${problems === 1 ? "" : "s"}` : ""}`;
          return h("tr", { "data-host": host },
          h("td", { text: host }), h("td", { class: w.state === "ok" && !problems ? "succeeded" : "failed", text: w.error ? `${said}: ${w.error}` : said }),
          h("td", { text: w.ecc_server_up === null ? "?" : w.ecc_server_up ? "up" : "down" }),
          h("td", { text: w.data_router_up === null ? "?" : w.data_router_up ? "up" : "down" }),
          h("td", { class: "num", text: w.graw_files ?? "?" }), h("td", { class: `num${problems ? " failed" : ""}`, text: problems }));
        })));
  },
});
