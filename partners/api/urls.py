"""`/api/v1/` routes of the partners app: contacts and business calendars."""

from rest_framework.routers import SimpleRouter

from partners.api.views import BusinessCalendarViewSet, PartnerContactViewSet

router = SimpleRouter()
router.register("contacts", PartnerContactViewSet, basename="partner-contact")
router.register("calendars", BusinessCalendarViewSet, basename="calendar")

urlpatterns = router.urls
