// Automatic Backup Frequency: the backup schedules (docs/schedules.md), each with its
// frequency in words and its next run; edit one's frequency, or create one.

import { checkbox, el, field, fill, select, when } from "./dom.js";
import { modal } from "./dialog.js";
import { showError } from "./errors.js";

const FIELDS = "id name enabled action frequency timeOfDay minute dayOfWeek dayOfMonth cron timeZone cronDescription nextRunAt lastRun { status createdAt }";
const SCHEDULES = `{ schedules { ${FIELDS} } }`;
const UPDATE = `mutation ($id: Int!, $input: UpdateScheduleInput!) { updateSchedule(id: $id, input: $input) { message } }`;
const CREATE = `mutation ($input: CreateScheduleInput!) { createSchedule(input: $input) { message } }`;
const FREQUENCIES = [["HOURLY", "Hourly"], ["DAILY", "Daily"], ["WEEKLY", "Weekly"], ["MONTHLY", "Monthly"]];
const DAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"];

export class Schedules {
  constructor(api, notice) {
    this.api = api;
    this.notice = notice;
    this.list = el("ul", { class: "schedules" });
    this.error = el("div", { class: "error", role: "alert" });
    this.node = el(
      "section",
      { class: "panel", "aria-labelledby": "schedules-title" },
      el("h3", { id: "schedules-title" }, "Automatic Backup Frequency"),
      this.error,
      this.list,
      el("button", { type: "button", onclick: () => this.edit(null) }, "New backup schedule"),
    );
  }

  async load() {
    this.loads = (this.loads || 0) + 1;
    const ticket = this.loads; // only the newest answer is drawn (see history.js)
    try {
      const { schedules } = await this.api.query(SCHEDULES);
      if (ticket !== this.loads) return;
      fill(this.error);
      const backups = schedules.filter((schedule) => schedule.action === "BACKUP");
      fill(
        this.list,
        backups.length
          ? backups.map((schedule) =>
              el(
                "li",
                {},
                el("strong", {}, schedule.name),
                ` · ${schedule.cronDescription} (${schedule.timeZone})`,
                schedule.enabled ? ` · next: ${when(schedule.nextRunAt)}` : " · paused",
                " ",
                el("button", { type: "button", class: "small", "aria-label": `Edit schedule ${schedule.name}`, onclick: () => this.edit(schedule) }, "Edit"),
              ),
            )
          : el("li", { class: "muted" }, "No automatic backup yet."),
      );
    } catch (error) {
      showError(this.error, error);
    }
  }

  edit(schedule) {
    const name = el("input", { type: "text", name: "name", required: true, maxlength: "191", value: schedule ? schedule.name : "Nightly backup" });
    const frequency = select(schedule && schedule.frequency === "CRON" ? [...FREQUENCIES, ["CRON", "Cron expression"]] : FREQUENCIES, { name: "frequency" });
    frequency.value = schedule ? schedule.frequency : "DAILY";
    const time = el("input", { type: "time", name: "timeOfDay", value: (schedule && schedule.timeOfDay) || "02:00" });
    const minute = el("input", { type: "number", name: "minute", min: "0", max: "59", value: String((schedule && schedule.minute) || 0) });
    const day = select(DAYS.map((value) => [value, value[0] + value.slice(1).toLowerCase()]), { name: "dayOfWeek" });
    day.value = (schedule && schedule.dayOfWeek) || "MONDAY";
    const date = el("input", { type: "number", name: "dayOfMonth", min: "1", max: "28", value: String((schedule && schedule.dayOfMonth) || 1) });
    const zone = el("input", { type: "text", name: "timeZone", value: schedule ? schedule.timeZone : Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC" });
    const enabled = checkbox("Enabled", { checked: schedule ? schedule.enabled : true });
    const fields = { time: field("Time of day", time), minute: field("Minutes past the hour", minute), day: field("Day of the week", day), date: field("Day of the month", date) };
    const shown = () => {
      const value = frequency.value;
      fields.time.hidden = !["DAILY", "WEEKLY", "MONTHLY"].includes(value);
      fields.minute.hidden = value !== "HOURLY";
      fields.day.hidden = value !== "WEEKLY";
      fields.date.hidden = value !== "MONTHLY";
    };
    frequency.addEventListener("change", shown);
    shown();
    modal({
      title: schedule ? `Schedule ${schedule.name}` : "New backup schedule",
      submitLabel: "Save",
      body: [field("Name", name), field("Frequency", frequency), ...Object.values(fields), field("Time zone", zone), enabled.node],
      onSubmit: async (_form, close) => {
        const timing = { frequency: frequency.value, timeZone: zone.value.trim() || "UTC" };
        if (!fields.time.hidden) timing.timeOfDay = time.value;
        if (!fields.minute.hidden) timing.minute = Number(minute.value);
        if (!fields.day.hidden) timing.dayOfWeek = day.value;
        if (!fields.date.hidden) timing.dayOfMonth = Number(date.value);
        if (frequency.value === "CRON") timing.cron = schedule.cron;
        const words = schedule
          ? (await this.api.query(UPDATE, { id: schedule.id, input: { name: name.value.trim(), timing, enabled: enabled.input.checked } })).updateSchedule.message
          : (await this.api.query(CREATE, { input: { name: name.value.trim(), timing, enabled: enabled.input.checked, backup: { backupType: "FULL" } } })).createSchedule.message;
        close();
        this.notice(words);
        this.load();
      },
    });
  }
}
