// Gathers what primary_conninfo is decided from (protocol::StandbyConninfoFacts)
// from the clone's connection: the options libpq reports with their built-in
// defaults and environment variables, the keywords the command line set,
// which of those variables are present, and the dbname the user gave. The
// decision itself is protocol::standby_conninfo_options.
#pragma once

#include "protocol/conninfo.h"
#include "walreceiver/connection_options.h"
#include "walreceiver/pg_connection.h"

namespace walstream::walreceiver {

protocol::StandbyConninfoFacts gather_standby_conninfo_facts(const PgConnection& conn,
                                                             const ConnectionOptions& options);

}  // namespace walstream::walreceiver
