"""Dealer pages: the dashboard, the team (members, invitations, roles), switching between
dealers, the notification recipients of the dealer's settings, and the invitation link that
every kind of invitation shares."""

from __future__ import annotations

from functools import cached_property
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import FormView, ListView, TemplateView

from dealers import access, dashboard, forms, invitations, selectors, services
from dealers.forms import NotificationRecipientForm
from dealers.generic import ServiceFormMixin
from dealers.models import (
    Dealer,
    DealerInvitation,
    Invitation,
    Membership,
    NotificationRecipient,
)


class DashboardView(access.DealerRequiredMixin, TemplateView):
    template_name = "dealers/dashboard.html"
    http_method_names = ["get", "head", "options"]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["panels"] = dashboard.panels_for(self.membership)
        return context


class MemberListView(access.DealerRequiredMixin, ListView):
    """The team: members, open invitations, and every change (owners and admins manage it)."""

    template_name = "dealers/member_list.html"
    context_object_name = "members"
    http_method_names = ["get", "head", "options"]

    def get_queryset(self):
        return (
            Membership.objects.filter(dealer=self.dealer)
            .select_related("user")
            .order_by("user__username")
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["invitations"] = selectors.open_invitations(self.dealer)
        context["history"] = selectors.team_history(self.dealer)
        return context


class _MemberMixin(access.DealerRequiredMixin):
    @cached_property
    def member(self) -> Membership:
        return access.get_for_dealer_or_404(
            Membership.objects.select_related("user", "dealer"),
            self.dealer,
            code=self.kwargs["code"],
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["member"] = self.member
        return context


class MemberDetailView(_MemberMixin, TemplateView):
    template_name = "dealers/member_detail.html"
    http_method_names = ["get", "head", "options"]


class InviteView(ServiceFormMixin, access.DealerRequiredMixin, FormView):
    """Invite someone by e-mail: the link works once, for INVITATION_EXPIRY_DAYS."""

    template_name = "dealers/invite_form.html"
    form_class = forms.InviteForm
    required_roles = Membership.MANAGE_ROLES
    success_url = reverse_lazy("dealers:member-list")
    http_method_names = ["get", "post", "head", "options"]
    success_message = "Invitation sent to {obj.email}."

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "actor_role": self.membership.role}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["expiry_days"] = settings.INVITATION_EXPIRY.days
        return context

    def perform(self, form: forms.InviteForm) -> DealerInvitation:
        return services.member_invite(
            dealer=self.dealer,
            actor=self.request.user,
            actor_role=self.membership.role,
            **form.cleaned_data,
        )


class InvitationRevokeView(access.DealerRequiredMixin, View):
    """Withdraw an open invitation (its link stops working)."""

    required_roles = Membership.MANAGE_ROLES
    http_method_names = ["post", "options"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        invitation = access.get_for_dealer_or_404(
            DealerInvitation.objects, self.dealer, code=self.kwargs["code"]
        )
        try:
            services.invitation_revoke(invitation=invitation, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"The invitation to {invitation.email} was withdrawn.")
        return redirect("dealers:member-list")


class MemberRoleView(ServiceFormMixin, _MemberMixin, FormView):
    """Change a member's role (the last owner stays an owner)."""

    template_name = "dealers/member_role_form.html"
    form_class = forms.RoleForm
    required_roles = Membership.MANAGE_ROLES
    success_url = reverse_lazy("dealers:member-list")
    http_method_names = ["get", "post", "head", "options"]
    success_message = "{obj.user} is now {obj.role_label}."

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        kwargs.update(actor_role=self.membership.role, initial={"role": self.member.role})
        return kwargs

    def perform(self, form: forms.RoleForm) -> Membership:
        membership = services.member_role_set(
            membership=self.member,
            role=form.cleaned_data["role"],
            actor=self.request.user,
            actor_role=self.membership.role,
        )
        membership.role_label = membership.get_role_display().lower()
        return membership


class MemberRemoveView(_MemberMixin, TemplateView):
    """Confirm, then take the member off the team (never the last owner)."""

    template_name = "dealers/member_confirm_remove.html"
    required_roles = Membership.MANAGE_ROLES
    http_method_names = ["get", "post", "head", "options"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        member = self.member
        try:
            services.member_remove(
                membership=member, actor=request.user, actor_role=self.membership.role
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("dealers:member-detail", member.code)
        messages.success(request, f"{member.user} no longer works for {self.dealer}.")
        if member.user_id == request.user.pk:
            return redirect("home")  # they removed themselves
        return redirect("dealers:member-list")


@method_decorator(never_cache, name="dispatch")
class InvitationAcceptView(TemplateView):
    """The e-mailed link, for every kind of invitation (``dealers.invitations``).

    Signed in: join with this sign-in. Signed out: sign in first (back here after), or create a
    sign-in with the invitation's address. A link that is not ours is a 404; one used, expired
    or withdrawn says so (410).
    """

    template_name = "invitations/accept.html"
    http_method_names = ["get", "post", "head", "options"]

    @cached_property
    def invitation(self) -> Invitation | None:
        return invitations.from_token(self.kwargs["token"])

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # Rendered, not raised: the same page with DEBUG on.
        if self.invitation is None:
            problem = "This link is not a valid invitation: copy the whole link from the e-mail."
            return self._problem(request, problem, status=404)
        if not self.invitation.is_pending:
            problem = services.INVITATION_NOT_PENDING[self.invitation.state]
            return self._problem(request, problem, status=410)
        return super().dispatch(request, *args, **kwargs)

    def _problem(self, request: HttpRequest, problem: str, *, status: int) -> HttpResponse:
        context = {"invitation": self.invitation, "problem": problem}
        return render(request, "invitations/problem.html", context, status=status)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = self.request.user
        kind = invitations.kind_of(self.invitation)
        context.update(
            invitation=self.invitation,
            already_member=user.is_authenticated and kind.is_member(self.invitation, user),
            login_url=f"{reverse('login')}?{urlencode({'next': self.request.path})}",
        )
        if not user.is_authenticated:
            context.setdefault("form", forms.SignUpForm(email=self.invitation.email))
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        invitation = self.invitation
        if request.user.is_authenticated:
            user, form = request.user, None
        else:
            form = forms.SignUpForm(request.POST, email=invitation.email)
            if not form.is_valid():
                return self.render_to_response(self.get_context_data(form=form))
        try:
            with transaction.atomic():
                if form is not None:
                    user = form.save()
                services.invitation_accept(invitation=invitation, user=user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect(request.path)
        if form is not None:
            # The password backend: the last one (django-axes' guard comes first).
            login(request, user, backend=settings.AUTHENTICATION_BACKENDS[-1])
        messages.success(request, f"Welcome to {invitation.target}.")
        return redirect(invitations.kind_of(invitation).next_url(request, invitation))


class SwitchView(access.DealerRequiredMixin, View):
    """Make another of the user's dealers the active one (the navigation bar's switcher).

    It changes only the user's session, so every role may use it."""

    http_method_names = ["post", "options"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        membership = access.switch_dealer(request, request.POST.get("dealer", ""))
        messages.success(request, f"You are now working as {membership.dealer}.")
        next_url = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            next_url = reverse("dealers:dashboard")
        return redirect(next_url)


# --- dealer settings: general -------------------------------------------------------------


class DealerSettingsView(ServiceFormMixin, access.DealerRequiredMixin, FormView):
    """The dealer's name and time zone (owners and admins)."""

    template_name = "dealers/settings.html"
    form_class = forms.DealerSettingsForm
    required_roles = Membership.MANAGE_ROLES
    success_url = reverse_lazy("dealers:settings")
    http_method_names = ["get", "post", "head", "options"]
    success_message = "Settings of {obj} saved."

    def get_form_kwargs(self) -> dict[str, Any]:
        # A copy: an invalid form must not change the name the navigation bar shows.
        return {**super().get_form_kwargs(), "instance": Dealer.objects.get(pk=self.dealer.pk)}

    def perform(self, form: forms.DealerSettingsForm) -> Dealer:
        return services.dealer_update(dealer=self.dealer, **form.cleaned_data)


# --- dealer settings: notification recipients -----------------------------------------------


class RecipientListView(access.DealerRequiredMixin, ListView):
    """Who is e-mailed about receiver paths and failed signals; owners and admins change it."""

    template_name = "dealers/recipient_list.html"
    context_object_name = "recipients"
    http_method_names = ["get", "head", "options"]

    def get_queryset(self):
        return NotificationRecipient.objects.for_dealer(self.dealer).order_by("email")


class _RecipientFormView(ServiceFormMixin, access.DealerRequiredMixin, FormView):
    """Shared by add and edit: the service saves, the form shows what it said."""

    template_name = "dealers/recipient_form.html"
    form_class = NotificationRecipientForm
    required_roles = Membership.MANAGE_ROLES
    success_url = reverse_lazy("dealers:recipient-list")
    http_method_names = ["get", "post", "head", "options"]

    @cached_property
    def recipient(self) -> NotificationRecipient | None:
        return None

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        kwargs["dealer"] = self.dealer
        kwargs["instance"] = self.recipient
        return kwargs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["recipient"] = self.recipient
        return context

    success_message = "Notifications for {obj.email} saved."

    def perform(self, form: NotificationRecipientForm) -> NotificationRecipient:
        return self.save({name: form.cleaned_data[name] for name in services.RECIPIENT_FIELDS})

    def save(self, fields: dict[str, Any]) -> NotificationRecipient:
        raise NotImplementedError


class RecipientCreateView(_RecipientFormView):
    def save(self, fields: dict[str, Any]) -> NotificationRecipient:
        return services.recipient_create(dealer=self.dealer, **fields)


class RecipientUpdateView(_RecipientFormView):
    @cached_property
    def recipient(self) -> NotificationRecipient:
        return access.get_for_dealer_or_404(
            NotificationRecipient.objects, self.dealer, code=self.kwargs["code"]
        )

    def save(self, fields: dict[str, Any]) -> NotificationRecipient:
        return services.recipient_update(recipient=self.recipient, **fields)


class RecipientDeleteView(access.DealerRequiredMixin, TemplateView):
    template_name = "dealers/recipient_confirm_delete.html"
    required_roles = Membership.MANAGE_ROLES
    http_method_names = ["get", "post", "head", "options"]

    @cached_property
    def recipient(self) -> NotificationRecipient:
        return access.get_for_dealer_or_404(
            NotificationRecipient.objects, self.dealer, code=self.kwargs["code"]
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["recipient"] = self.recipient
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        email = self.recipient.email
        services.recipient_delete(recipient=self.recipient)
        messages.success(request, f"{email} no longer receives notifications.")
        return redirect("dealers:recipient-list")


# --- dealer settings: sign-in security (owner only) -----------------------------------------


class SecurityView(access.DealerRequiredMixin, TemplateView):
    """The owner turns two-factor sign-in on for everyone, and sees their people's sign-ins,
    failed sign-ins, lockouts and two-factor changes."""

    template_name = "dealers/security.html"
    required_roles = frozenset({Membership.Role.OWNER})
    http_method_names = ["get", "head", "options", "post"]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["events"] = selectors.signin_events_for_dealer(self.dealer)
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        required = request.POST.get("two_factor_required") == "on"
        services.dealer_two_factor_set(dealer=self.dealer, required=required)
        messages.success(
            request,
            "Everyone at this dealer now signs in with an authenticator app as well."
            if required
            else "Two-factor sign-in is now each person's own choice.",
        )
        return redirect("dealers:security")
