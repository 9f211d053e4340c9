"""Forms of the accounts pages. They check shape only; services check the rules."""

from django import forms

from accounts.models import Role, TeamSize, UseCase


class SignUpForm(forms.Form):
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(attrs={"autofocus": True}))
    password = forms.CharField(
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters, not only digits, not a common password.",
    )
    workspace_name = forms.CharField(
        max_length=100,
        required=False,
        help_text="Your company or team. Leave empty to use your e-mail's domain.",
    )
    # Filled in by the browser (Intl API); the service checks it is a real zone.
    time_zone = forms.CharField(max_length=64, required=False, widget=forms.HiddenInput)


class InvitationForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="Where the key is used, for example “production backend”."
    )


class AcceptAsNewUserForm(forms.Form):
    full_name = forms.CharField(max_length=150, required=False)
    password = forms.CharField(
        strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"autocomplete": "off"}))


class ProjectRenameForm(forms.Form):
    name = forms.CharField(
        max_length=100, label="New name", widget=forms.TextInput(attrs={"autocomplete": "off"})
    )


class WorkspaceForm(forms.Form):
    """A new workspace, for someone who already has an account."""

    name = forms.CharField(
        max_length=100,
        label="Workspace name",
        help_text="Your company or team. You can rename it later.",
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
    )
    # Filled in by the browser (Intl API); the service checks it is a real zone.
    time_zone = forms.CharField(max_length=64, required=False, widget=forms.HiddenInput)


class WorkspaceSettingsForm(forms.Form):
    name = forms.CharField(max_length=100, label="Workspace name")
    slug = forms.CharField(
        max_length=60,
        label="Address",
        help_text="The part after /w/ in the workspace's links: lower-case letters, digits "
        "and hyphens, 3 to 60 characters. Changing it changes every link to the workspace; "
        "old links keep working for its members, and API keys are not affected.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class WorkspaceDeleteForm(forms.Form):
    confirmation = forms.CharField(
        max_length=60,
        label="Type the workspace's address to confirm",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class ProfileForm(forms.Form):
    full_name = forms.CharField(max_length=150, required=False, label="Name")
    email = forms.EmailField(
        max_length=254, label="E-mail address", help_text="You log in with this address."
    )
    current_password = forms.CharField(
        required=False,
        strip=False,
        label="Current password",
        help_text="Needed only to change your e-mail address.",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class WorkspaceFitForm(forms.Form):
    """The optional questions right after sign-up; both may stay unanswered."""

    team_size = forms.ChoiceField(
        choices=TeamSize.choices,
        required=False,
        widget=forms.RadioSelect,
        label="How many people are on your team?",
    )
    use_case = forms.ChoiceField(
        choices=UseCase.choices,
        required=False,
        widget=forms.RadioSelect,
        label="What will you use Handoff for first?",
        help_text="We put the step that gets you there first at the top of your checklist.",
    )
