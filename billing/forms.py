from django import forms

from .plans import PAID_PLANS


class CheckoutForm(forms.Form):
    plan = forms.ChoiceField(choices=[(plan.code, plan.name) for plan in PAID_PLANS])
    seats = forms.IntegerField(required=False, min_value=1)
