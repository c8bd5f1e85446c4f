-- Reports (issue 14): spend, exchange rates, the reporting currency, and the read models the
-- payback and cohort reports read (built by the projector with its checkpoint).
ALTER TABLE workspaces ADD COLUMN currency text NOT NULL DEFAULT 'USD';

CREATE TABLE spend (
    workspace_id bigint NOT NULL,
    day integer NOT NULL,
    channel text COLLATE "C" NOT NULL,
    campaign_id text COLLATE "C" NOT NULL,
    ad_set_id text COLLATE "C" NOT NULL,
    creative_id text COLLATE "C" NOT NULL,
    country text COLLATE "C" NOT NULL,
    amount bigint NOT NULL,
    currency text NOT NULL,
    updated_us bigint NOT NULL,
    PRIMARY KEY (workspace_id, day, channel, campaign_id, ad_set_id, creative_id, country)
);

CREATE TABLE fx_rates (
    workspace_id bigint NOT NULL,
    day integer NOT NULL,
    base text NOT NULL,
    currency text NOT NULL,
    rate double precision NOT NULL,
    PRIMARY KEY (workspace_id, day, base, currency)
);

CREATE TABLE report_items (
    workspace_id bigint NOT NULL,
    owner text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    event text NOT NULL,
    ts bigint NOT NULL,
    currency text,
    amount bigint,
    txn text COLLATE "C",
    offer_id text,
    paywall_id text,
    PRIMARY KEY (workspace_id, owner, seq)
);
CREATE INDEX report_items_txn ON report_items (workspace_id, txn) WHERE txn IS NOT NULL;

CREATE TABLE report_people (
    workspace_id bigint NOT NULL,
    key text COLLATE "C" NOT NULL,
    cohort_day integer NOT NULL,
    attributed integer NOT NULL,
    campaign_id text,
    channel text,
    ad_set_id text,
    creative_id text,
    country text,
    offer_id text,
    paywall_id text,
    trial integer NOT NULL,
    paid integer NOT NULL,
    converted integer NOT NULL,
    renewals integer NOT NULL,
    paid_first_day integer,
    ended_day integer,
    PRIMARY KEY (workspace_id, key)
);
CREATE INDEX report_people_cohort ON report_people (workspace_id, cohort_day);

CREATE TABLE report_revenue (
    workspace_id bigint NOT NULL,
    key text COLLATE "C" NOT NULL,
    day integer NOT NULL,
    currency text NOT NULL,
    amount bigint NOT NULL,
    events integer NOT NULL,
    payments integer NOT NULL,
    cohort_day integer NOT NULL,
    attributed integer NOT NULL,
    campaign_id text,
    channel text,
    ad_set_id text,
    creative_id text,
    country text,
    offer_id text,
    paywall_id text,
    PRIMARY KEY (workspace_id, key, day, currency)
);
CREATE INDEX report_revenue_cohort ON report_revenue (workspace_id, cohort_day);
