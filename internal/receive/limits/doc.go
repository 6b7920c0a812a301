// Package limits enforces the write limits of strata receive's
// --receive.limits-config-file, a YAML file in the format of upstream Thanos
// receive's limits file, so an upstream file works unchanged:
//
//	write:
//	  global:
//	    max_concurrency: 30        # write requests handled at once, all tenants
//	  default:                     # every tenant without its own entry
//	    request:
//	      size_bytes_limit: 1024   # request body as received (compressed)
//	      series_limit: 1000       # series per request
//	      samples_limit: 10        # float and histogram samples per request
//	    head_series_limit: 1000    # active series in the tenant's head
//	  tenants:
//	    acme:                      # overrides write.default for tenant acme
//	      request:
//	        series_limit: 0
//	      head_series_limit: 2000
//
// Every limit is optional; 0 or absent is unlimited. A tenant's entry
// overrides write.default field by field: a field the entry does not set
// takes the default's value, and a field set to 0 is unlimited for that
// tenant even when the default sets a limit. Negative numbers and fields the
// format does not know are errors naming the field.
//
// write.global.meta_monitoring_url, meta_monitoring_limit_query and
// meta_monitoring_http_client are accepted and ignored (Config.Ignored lists
// those set): upstream asks a meta-monitoring Prometheus for each tenant's
// head series, Strata counts them in its own heads.
//
// What a sender sees: a request over size_bytes_limit, series_limit or
// samples_limit is answered 413 and dropped by the sender (retrying the
// same batch cannot succeed); a request arriving while max_concurrency
// requests are in flight, or for a tenant whose head holds
// head_series_limit series already, is answered 429 and retried. Each
// refusal counts in strata_receive_limited_requests_total{tenant, limit}.
//
// Watch re-reads the file when its content changes and applies it without
// a restart; a broken file leaves the previous limits in force and sets
// strata_receive_limits_config_last_reload_successful to 0.
package limits
