"""Forms of the upload page: the file, then its column mapping."""

from __future__ import annotations

from django import forms
from django.core.validators import validate_slug
from django.utils.translation import gettext_lazy as _

from monitoring.rows import FIELDS, REQUIRED
from payhealth.forms import Form


class UploadForm(Form):
    file = forms.FileField(
        label=_("File of buckets"),
        help_text=_("CSV (UTF-8, a header line) or Parquet (.parquet)."),
        max_length=255,
        allow_empty_file=True,  # an empty file gets its own message from the upload service
    )


class MappingForm(Form):
    """One choice per bucket field: the file's column it is read from, or none."""

    save_as = forms.CharField(
        label=_("Save this mapping as"),
        required=False,
        max_length=50,
        validators=[validate_slug],
        help_text=_("Optional: a name (letters, digits, - and _) to preselect these columns for the next file."),
    )

    def __init__(self, *args, header: list[str], initial_mapping: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", _("— not in the file —")), *[(column, column) for column in header]]
        for field in FIELDS:
            self.fields[f"map_{field}"] = forms.ChoiceField(
                label=field,
                choices=choices,
                required=field in REQUIRED,
                initial=initial_mapping.get(field, ""),
            )

    def mapping(self) -> dict[str, str]:
        return {field: self.cleaned_data[f"map_{field}"] for field in FIELDS if self.cleaned_data.get(f"map_{field}")}

    def clean(self):
        data = super().clean()
        used: dict[str, str] = {}
        for field in FIELDS:
            column = data.get(f"map_{field}")
            if not column:
                continue
            if column in used:
                self.add_error(
                    f"map_{field}",
                    _("The column %(column)s is already read for %(field)s.")
                    % {"column": column, "field": used[column]},
                )
            used[column] = field
        return data

    def mapping_fields(self):
        return [self[f"map_{field}"] for field in FIELDS]
