"""Forms of the accounts pages. They check shape only; services check the rules."""

from django import forms

from accounts.models import Role


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
