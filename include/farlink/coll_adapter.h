/* The C ABI of an intra-site collective adapter (a vendor library behind
 * farlink's Communicator). An adapter is a shared module named
 * farlink-coll-<name>.so exporting one symbol, FARLINK_COLL_ADAPTER_SYMBOL,
 * a function returning a pointer to a static farlink_coll_adapter. The
 * loader refuses a module whose api_version differs from the one it was
 * built with. Plain C so that any toolchain can build an adapter.
 *
 * Calls: init once per communicator, then the operations in the same order
 * on every rank of the site (from one thread at a time), then finalize.
 * Every function returns 0 on success or a farlink StatusCode value and
 * writes a message naming the peer/operation into err (err_len bytes,
 * NUL-terminated). Counts are in elements. */
#ifndef FARLINK_COLL_ADAPTER_H
#define FARLINK_COLL_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FARLINK_COLL_ADAPTER_API_VERSION 1u
#define FARLINK_COLL_ADAPTER_SYMBOL "farlink_coll_adapter_v1"

/* Same values as farlink::DataType / farlink::ReduceOp. */
typedef enum {
  FARLINK_COLL_INT8 = 0,
  FARLINK_COLL_UINT8 = 1,
  FARLINK_COLL_INT32 = 2,
  FARLINK_COLL_INT64 = 3,
  FARLINK_COLL_FLOAT16 = 4,
  FARLINK_COLL_BFLOAT16 = 5,
  FARLINK_COLL_FLOAT32 = 6,
  FARLINK_COLL_FLOAT64 = 7,
} farlink_coll_dtype;

/* avg never reaches an adapter: the host sums and divides. */
typedef enum {
  FARLINK_COLL_SUM = 0,
  FARLINK_COLL_PROD = 1,
  FARLINK_COLL_MIN = 2,
  FARLINK_COLL_MAX = 3,
} farlink_coll_op;

/* capabilities: bit (1 << dtype) for each dtype the adapter reduces. */
#define FARLINK_COLL_CAP_DTYPE(dt) (UINT64_C(1) << (dt))
#define FARLINK_COLL_CAP_ALL_DTYPES UINT64_C(0xff)

/* The host's key-value store (served by world rank 0), for adapters that
 * need a rendezvous of their own. Keys are NUL-terminated strings; an adapter
 * should put its keys under init_args.key_prefix. get blocks until the key
 * exists or timeout_ms passes. */
typedef struct farlink_coll_store {
  void* ctx;
  int (*set)(void* ctx, const char* key, const void* value, size_t size, char* err,
             size_t err_len);
  int (*get)(void* ctx, const char* key, void* value, size_t capacity, size_t* size,
             int64_t timeout_ms, char* err, size_t err_len);
} farlink_coll_store;

typedef struct farlink_coll_init_args {
  uint32_t struct_size;      /* sizeof(farlink_coll_init_args) of the host */
  int32_t local_rank;        /* rank within the site, 0..local_size-1 */
  int32_t local_size;
  int32_t site_id;
  const char* site_name;
  int32_t world_rank;
  int32_t world_size;
  const char* key_prefix;    /* unique to this site and communicator */
  const char* listen_host;   /* address this rank may bind for site traffic */
  int64_t timeout_ms;        /* how long to wait for peers */
  const farlink_coll_store* store;
} farlink_coll_init_args;

typedef struct farlink_coll_adapter {
  uint32_t api_version; /* FARLINK_COLL_ADAPTER_API_VERSION */
  const char* name;     /* "mpi" */
  uint64_t capabilities;

  int (*init)(const farlink_coll_init_args* args, void** comm, char* err, size_t err_len);
  void (*finalize)(void* comm);

  int (*allreduce)(void* comm, const void* send, void* recv, size_t count,
                   farlink_coll_dtype dt, farlink_coll_op op, char* err, size_t err_len);
  /* recv_counts[local_size]: local rank j receives the reduced block of
   * recv_counts[j] elements that starts after the blocks of ranks < j. */
  int (*reduce_scatter)(void* comm, const void* send, void* recv, const size_t* recv_counts,
                        farlink_coll_dtype dt, farlink_coll_op op, char* err, size_t err_len);
  /* send holds counts[local_rank] elements; recv the concatenation. */
  int (*allgather)(void* comm, const void* send, void* recv, const size_t* counts,
                   farlink_coll_dtype dt, char* err, size_t err_len);
  int (*broadcast)(void* comm, void* buf, size_t count, farlink_coll_dtype dt, int root,
                   char* err, size_t err_len);
  int (*barrier)(void* comm, char* err, size_t err_len);
} farlink_coll_adapter;

typedef const farlink_coll_adapter* (*farlink_coll_adapter_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* FARLINK_COLL_ADAPTER_H */
