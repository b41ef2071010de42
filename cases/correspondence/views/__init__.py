"""Correspondence pages: notices (compose, review, approvals, an incident's threads) and replies
(the mail gateway's endpoint, the triage inbox, attachments) in the `cases:` namespace; the notice
template editor is in the `partners:` namespace (`cases.urls.partners`)."""

from cases.correspondence.views import account, ack, inbound, notices

urlpatterns = [*notices.urlpatterns, *inbound.urlpatterns, *ack.urlpatterns, *account.urlpatterns]
