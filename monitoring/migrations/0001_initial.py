"""Payment data. `AuthBucket` is created by hand (SeparateDatabaseAndState): PostgreSQL
partitions it by month on `bucket_start` (`PARTITION BY RANGE`), which Django cannot declare;
the state operations describe the same table to Django. `monitoring.partitions` creates and
drops its monthly partitions."""

import cases.models.incident
import django.contrib.postgres.indexes
import django.core.validators
import django.db.models.deletion
import django.db.models.expressions
import django.db.models.lookups
import payhealth.db
from django.conf import settings
from django.db import migrations, models


CREATE_AUTHBUCKET = """
CREATE TABLE monitoring_authbucket (
    segment_id bigint NOT NULL
        CONSTRAINT monitoring_authbucket_segment_id_fk REFERENCES monitoring_segment (id) DEFERRABLE INITIALLY DEFERRED,
    bucket_start timestamp with time zone NOT NULL,
    attempts integer NOT NULL CHECK (attempts >= 0),
    approvals integer NOT NULL CHECK (approvals >= 0),
    soft_declines integer NOT NULL CHECK (soft_declines >= 0),
    hard_declines integer NOT NULL CHECK (hard_declines >= 0),
    errors integer NOT NULL CHECK (errors >= 0),
    amount_attempted numeric(18, 2) NOT NULL,
    amount_approved numeric(18, 2) NOT NULL,
    currency varchar(3) NOT NULL,
    decline_codes jsonb NOT NULL,
    received_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    CONSTRAINT monitoring_authbucket_pk PRIMARY KEY (segment_id, bucket_start),
    CONSTRAINT authbucket_outcomes_add_up CHECK (
        approvals >= 0 AND errors >= 0 AND hard_declines >= 0 AND soft_declines >= 0
        AND attempts = approvals + soft_declines + hard_declines + errors
    ),
    CONSTRAINT authbucket_amounts CHECK (amount_approved >= 0 AND amount_attempted >= amount_approved),
    CONSTRAINT authbucket_currency_iso4217 CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT authbucket_decline_codes_object CHECK (jsonb_typeof(decline_codes) = 'object'),
    -- Buckets start on a multiple of 5 minutes (the smallest bucket size) in UTC.
    CONSTRAINT authbucket_start_aligned CHECK (mod(extract(epoch FROM bucket_start), 300) = 0)
) PARTITION BY RANGE (bucket_start);
-- Time-range scans over a month's partition: BRIN on bucket_start (rows arrive roughly in time
-- order). One segment's series: the primary key, a B-tree on (segment_id, bucket_start).
CREATE INDEX authbucket_start_brin ON monitoring_authbucket USING brin (bucket_start);
-- What changed since the detector's last run.
CREATE INDEX authbucket_updated_at ON monitoring_authbucket (updated_at);
"""
DROP_AUTHBUCKET = "DROP TABLE monitoring_authbucket CASCADE;"


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('cases', '0012_mask_stored_card_numbers'),
        ('partners', '0004_default_notice_templates'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ImportMapping',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.SlugField(unique=True, verbose_name='name')),
                ('columns', models.JSONField(default=dict, help_text="Field name → the file's column name.", verbose_name='columns')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created at')),
            ],
            options={
                'verbose_name': 'import mapping',
                'verbose_name_plural': 'import mappings',
                'ordering': ['name'],
            },
            bases=(payhealth.db.CardNumberFreeModel, models.Model),
        ),
        migrations.CreateModel(
            name='Segment',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('network', models.CharField(blank=True, choices=[('visa', 'Visa'), ('mastercard', 'Mastercard'), ('amex', 'American Express'), ('carnet', 'Carnet'), ('discover', 'Discover'), ('jcb', 'JCB'), ('elo', 'Elo'), ('unionpay', 'UnionPay')], max_length=20, verbose_name='network')),
                ('bin_prefix', models.CharField(blank=True, max_length=8, validators=[cases.models.incident.validate_bin_prefix], verbose_name='BIN prefix')),
                ('country', models.CharField(blank=True, max_length=2, validators=[django.core.validators.RegexValidator('^[A-Z]{2}$', 'Use a two-letter ISO 3166 country code such as MX.')], verbose_name='country')),
                ('funding', models.CharField(blank=True, choices=[('credit', 'Credit'), ('debit', 'Debit'), ('prepaid', 'Prepaid')], max_length=10, verbose_name='funding')),
                ('entry_mode', models.CharField(blank=True, choices=[('card_present', 'Card present'), ('ecommerce', 'E-commerce'), ('3ds', 'E-commerce with 3DS')], max_length=20, verbose_name='entry mode')),
                ('dimensions_hash', models.CharField(max_length=64, unique=True, verbose_name='dimensions hash')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created at')),
                ('issuer', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='issuer_segments', to='partners.partner', verbose_name='issuer')),
                ('merchant', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='segments', to='cases.merchant', verbose_name='merchant')),
                ('parent', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='children', to='monitoring.segment', verbose_name='merchant-level segment')),
                ('route', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='route_segments', to='partners.partner', verbose_name='route (acquirer or switch)')),
            ],
            options={
                'verbose_name': 'segment',
                'verbose_name_plural': 'segments',
                'ordering': ['merchant_id', 'id'],
            },
            bases=(payhealth.db.CardNumberFreeModel, models.Model),
        ),
        migrations.CreateModel(
            name='MetricsBatchReceipt',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('idempotency_key', models.CharField(max_length=255, verbose_name='idempotency key')),
                ('body_sha256', models.CharField(max_length=64, verbose_name='body SHA-256')),
                ('response_status', models.PositiveSmallIntegerField(blank=True, null=True, verbose_name='response status')),
                ('response_body', models.JSONField(blank=True, default=dict, verbose_name='response body')),
                ('created_at', models.DateTimeField(auto_now_add=True, db_index=True, verbose_name='received at')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='sent by')),
            ],
            options={
                'verbose_name': 'metrics batch receipt',
                'verbose_name_plural': 'metrics batch receipts',
                'ordering': ['-created_at', '-id'],
                'permissions': [('submit_metrics', 'Can submit payment data')],
                'constraints': [models.UniqueConstraint(fields=('user', 'idempotency_key'), name='metricsreceipt_user_key_unique')],
            },
            bases=(payhealth.db.CardNumberFreeModel, models.Model),
        ),
        migrations.AddConstraint(
            model_name='segment',
            constraint=models.CheckConstraint(condition=models.Q(('bin_prefix', ''), ('bin_prefix__regex', '^\\d{6,8}$'), _connector='OR'), name='segment_bin_prefix_digits', violation_error_message='A BIN prefix has 6 to 8 digits.'),
        ),
        migrations.AddConstraint(
            model_name='segment',
            constraint=models.CheckConstraint(condition=models.Q(('country', ''), ('country__regex', '^[A-Z]{2}$'), _connector='OR'), name='segment_country_iso2', violation_error_message='Use a two-letter ISO 3166 country code such as MX.'),
        ),
        migrations.AddConstraint(
            model_name='segment',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('bin_prefix', ''), ('country', ''), ('entry_mode', ''), ('funding', ''), ('issuer__isnull', True), ('network', ''), ('parent__isnull', True), ('route__isnull', True)), models.Q(('parent__isnull', False), models.Q(('bin_prefix', ''), ('country', ''), ('entry_mode', ''), ('funding', ''), ('issuer__isnull', True), ('network', ''), ('route__isnull', True), _negated=True)), _connector='OR'), name='segment_parent_is_merchant_level', violation_error_message='Only the merchant-level segment has no parent.'),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='AuthBucket',
                    fields=[
                        ('pk', models.CompositePrimaryKey('segment', 'bucket_start', blank=True, editable=False, primary_key=True, serialize=False)),
                        ('bucket_start', models.DateTimeField(verbose_name='bucket start')),
                        ('attempts', models.PositiveIntegerField(verbose_name='attempts')),
                        ('approvals', models.PositiveIntegerField(verbose_name='approvals')),
                        ('soft_declines', models.PositiveIntegerField(verbose_name='soft declines')),
                        ('hard_declines', models.PositiveIntegerField(verbose_name='hard declines')),
                        ('errors', models.PositiveIntegerField(verbose_name='errors')),
                        ('amount_attempted', models.DecimalField(decimal_places=2, max_digits=18, verbose_name='amount attempted')),
                        ('amount_approved', models.DecimalField(decimal_places=2, max_digits=18, verbose_name='amount approved')),
                        ('currency', models.CharField(max_length=3, verbose_name='currency')),
                        ('decline_codes', models.JSONField(blank=True, default=dict, verbose_name='decline codes')),
                        ('received_at', models.DateTimeField(verbose_name='received at')),
                        ('updated_at', models.DateTimeField(verbose_name='updated at')),
                        ('segment', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='buckets', to='monitoring.segment', verbose_name='segment')),
                    ],
                    options={
                        'verbose_name': 'authorization bucket',
                        'verbose_name_plural': 'authorization buckets',
                        'ordering': ['segment_id', 'bucket_start'],
                    },
                    bases=(payhealth.db.CardNumberFreeModel, models.Model),
                ),
                migrations.AddIndex(
                    model_name='authbucket',
                    index=django.contrib.postgres.indexes.BrinIndex(fields=['bucket_start'], name='authbucket_start_brin'),
                ),
                migrations.AddIndex(
                    model_name='authbucket',
                    index=models.Index(fields=['updated_at'], name='authbucket_updated_at'),
                ),
                migrations.AddConstraint(
                    model_name='authbucket',
                    constraint=models.CheckConstraint(condition=models.Q(('approvals__gte', 0), ('errors__gte', 0), ('hard_declines__gte', 0), ('soft_declines__gte', 0), ('attempts', django.db.models.expressions.CombinedExpression(django.db.models.expressions.CombinedExpression(django.db.models.expressions.CombinedExpression(models.F('approvals'), '+', models.F('soft_declines')), '+', models.F('hard_declines')), '+', models.F('errors')))), name='authbucket_outcomes_add_up', violation_error_message='Approvals, soft and hard declines and errors add up to the attempts.'),
                ),
                migrations.AddConstraint(
                    model_name='authbucket',
                    constraint=models.CheckConstraint(condition=models.Q(('amount_approved__gte', 0), ('amount_attempted__gte', models.F('amount_approved'))), name='authbucket_amounts', violation_error_message='Amounts are not negative, and no more is approved than attempted.'),
                ),
                migrations.AddConstraint(
                    model_name='authbucket',
                    constraint=models.CheckConstraint(condition=models.Q(('currency__regex', '^[A-Z]{3}$')), name='authbucket_currency_iso4217', violation_error_message='Use a three-letter ISO 4217 currency code such as MXN.'),
                ),
                migrations.AddConstraint(
                    model_name='authbucket',
                    constraint=models.CheckConstraint(condition=django.db.models.lookups.Exact(models.Func(models.F('decline_codes'), function='jsonb_typeof', output_field=models.CharField()), 'object'), name='authbucket_decline_codes_object', violation_error_message='Decline codes are an object of code → count.'),
                ),
            ],
            database_operations=[migrations.RunSQL(CREATE_AUTHBUCKET, DROP_AUTHBUCKET)],
        ),
    ]
