from cases.models import ResponseCode


def test_reference_codes_are_loaded(db):
    assert ResponseCode.objects.filter(scheme="iso8583", code="05").get().category == "soft"
