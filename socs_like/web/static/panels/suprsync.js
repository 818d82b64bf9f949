// SupRsync: one archive per agent; `run`'s session data (RunSessionData) holds the counts.
SocsWeb.registerPanel({
  agentClass: "SupRsync",
  title: "Archive",
  render(el, { sessions, h, when }) {
    const data = sessions.run && sessions.run.data;
    if (!data || !data.archive_stats) {
      el.replaceChildren(h("p", { class: "note", text: "run has published no archive counts yet." }));
      return;
    }
    const a = data.archive_stats, c = data.counters || {};
    const failed = data.last_copy ? data.last_copy.failed : 0;
    el.replaceChildren(h("table", {},
      [["activity", data.activity], ["files", a.num_files], ["pending", a.uncopied_files],
       ["failed copies (total)", c.failed_copies ?? "—"], ["failed in last batch", failed],
       ["finalized until", when(a.finalized_until)], ["last copied", a.last_file_copied || "—"]]
        .map(([k, v]) => h("tr", {}, h("th", { text: k }), h("td", { class: `v-${k.split(" ")[0]}`, text: String(v) })))));
  },
});
