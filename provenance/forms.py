from django import forms


class TraceUploadForm(forms.Form):
    file = forms.FileField(help_text="The leaked clip or a screenshot of it.")


class ContainForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False)
