from rest_framework.routers import SimpleRouter

from partners.api.views import BusinessCalendarViewSet, NoticeTemplateViewSet, PartnerContactViewSet, PartnerViewSet

router = SimpleRouter()
router.register("partners", PartnerViewSet, basename="partner")
router.register("contacts", PartnerContactViewSet, basename="partner-contact")
router.register("calendars", BusinessCalendarViewSet, basename="calendar")
router.register("notice-templates", NoticeTemplateViewSet, basename="notice-template")

urlpatterns = router.urls
