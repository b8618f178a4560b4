//! MaxMind DB files: opening (memory-mapped or embedded), telling their kind
//! from the metadata's `database_type`, verifying them in full, and looking
//! addresses up into [`GeoInfo`](crate::enrich::GeoInfo).
