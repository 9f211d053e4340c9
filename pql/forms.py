"""The sales queue's forms: they shape what a rep typed; the services hold the rules (a reason
for closing, who may act, which status comes next) and their errors land on these fields."""

from datetime import UTC, datetime, time

from django import forms

from pql.models import LeadStatus
from pql.services.queue import CONTACT_CHANNELS, NEXT_STATUSES, NOTE_MAX, REASON_MAX

CHANNEL_LABELS = {
    "email": "E-mail",
    "call": "Call",
    "meeting": "Meeting",
    "chat": "Chat",
    "other": "Other",
}
WEEKDAYS = [
    (0, "Monday"),
    (1, "Tuesday"),
    (2, "Wednesday"),
    (3, "Thursday"),
    (4, "Friday"),
    (5, "Saturday"),
    (6, "Sunday"),
]


class StatusForm(forms.Form):
    status = forms.ChoiceField(label="Move to")
    reason = forms.CharField(
        label="Reason",
        max_length=REASON_MAX,
        required=False,
        help_text="Needed to close the lead as won, lost or disqualified.",
    )

    def __init__(self, *args, lead=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        allowed = NEXT_STATUSES.get(lead.status, ()) if lead is not None else LeadStatus.values
        self.fields["status"].choices = [(s, LeadStatus(s).label) for s in allowed]


class ContactForm(forms.Form):
    channel = forms.ChoiceField(
        label="How", choices=[(c, CHANNEL_LABELS.get(c, c)) for c in CONTACT_CHANNELS]
    )
    summary = forms.CharField(
        label="Summary",
        max_length=NOTE_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class NoteForm(forms.Form):
    text = forms.CharField(
        label="Note", max_length=NOTE_MAX, widget=forms.Textarea(attrs={"rows": 3})
    )


class SnoozeForm(forms.Form):
    until = forms.DateField(
        label="Snooze until",
        widget=forms.DateInput(attrs={"type": "date"}),
        required=False,
        help_text="The lead comes back at the start of that working day. Empty: wake it now.",
    )

    def until_at(self, *, starts: time, zone) -> datetime | None:
        day = self.cleaned_data.get("until")
        if day is None:
            return None
        return datetime.combine(day, starts, tzinfo=zone).astimezone(UTC)


class AssignForm(forms.Form):
    owner = forms.ModelChoiceField(
        label="Assign to", queryset=None, required=False, empty_label="Nobody (unassigned)"
    )

    def __init__(self, *args, reps=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = reps
        self.fields["owner"].label_from_instance = lambda user: user.email


class BulkForm(forms.Form):
    ACTIONS = [("assign", "Assign to"), ("status", "Move to")]

    action = forms.ChoiceField(choices=ACTIONS, label="Action")
    owner = forms.ModelChoiceField(
        label="Rep", queryset=None, required=False, empty_label="Nobody (unassigned)"
    )
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("", "—")] + [(s, LeadStatus(s).label) for s in NEXT_STATUSES[LeadStatus.NEW]],
    )
    reason = forms.CharField(label="Reason", max_length=REASON_MAX, required=False)

    def __init__(self, *args, reps=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = reps
        self.fields["owner"].label_from_instance = lambda user: user.email


class SavedViewForm(forms.Form):
    name = forms.CharField(label="Save this view as", max_length=80)
    query = forms.CharField(required=False, max_length=1000, widget=forms.HiddenInput)


class QueueSettingsForm(forms.Form):
    sla_hours = forms.IntegerField(
        label="First-contact SLA (working hours)", min_value=1, max_value=1000
    )
    work_days = forms.TypedMultipleChoiceField(
        label="Working days", choices=WEEKDAYS, coerce=int, widget=forms.CheckboxSelectMultiple
    )
    day_starts = forms.TimeField(label="Day starts", widget=forms.TimeInput(attrs={"type": "time"}))
    day_ends = forms.TimeField(label="Day ends", widget=forms.TimeInput(attrs={"type": "time"}))
    time_zone = forms.CharField(label="Time zone", max_length=64, help_text="e.g. Europe/Paris")
    at_risk_hours = forms.IntegerField(
        label="At risk this many working hours before due", min_value=0, max_value=1000
    )
    round_robin = forms.BooleanField(
        label="Assign new leads in turn to available reps with room", required=False
    )


class RepForm(forms.Form):
    available = forms.BooleanField(label="Available", required=False)
    capacity = forms.IntegerField(label="Capacity", min_value=0, max_value=1000)
