from rest_framework import serializers

from accounts.models import ApiToken
from payhealth.api.serializers import ModelSerializer, Serializer


class ApiTokenSerializer(ModelSerializer):
    active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "revoked_at", "active"]
        read_only_fields = fields


class ApiTokenCreateSerializer(Serializer):
    name = serializers.CharField(max_length=80)


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The token itself. Shown once; store it now.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class MeSerializer(Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())
    language = serializers.CharField(allow_blank=True)
    timezone = serializers.CharField()


class UserRefSerializer(Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        return user.get_full_name() or user.get_username()
