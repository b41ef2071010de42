"""URL patterns of the partners app's pages, served in the `partners:` namespace that
`cases.urls.partners` assembles with the partner pages that read cases."""

from partners import views_calendars

urlpatterns = [*views_calendars.urlpatterns]
