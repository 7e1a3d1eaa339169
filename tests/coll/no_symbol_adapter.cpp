// A shared module that is not an adapter (no farlink_coll_adapter_v1).
extern "C" __attribute__((visibility("default"))) int not_an_adapter(void) { return 1; }
