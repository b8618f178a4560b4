//! Enrichment of the far end of each flow (GeoIP, site lists): see issue 4.
