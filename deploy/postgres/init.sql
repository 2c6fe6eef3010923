-- One database per service: no shared tables, no cross-service joins.
CREATE DATABASE campaigns;
CREATE DATABASE orders;
CREATE DATABASE payments;
CREATE DATABASE notifications;
CREATE DATABASE storefront;
