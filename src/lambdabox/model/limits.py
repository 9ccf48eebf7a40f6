"""The quotas Lambdabox enforces, with AWS Lambda's values unless said otherwise."""

#: Largest zipped deployment package accepted in a request body, in bytes (50 MiB).
MAX_ZIPPED_BYTES = 50 * 1024 * 1024
#: Largest request body for an operation carrying a zip, in bytes: 50 MiB of zip as base64 text
#: plus room for the other members. AWS's own figure, recorded in 2025 (it once said 69905067).
MAX_CODE_REQUEST_BYTES = 70_167_211
#: Largest unzipped function code plus all its layers, in bytes (250 MiB).
MAX_UNZIPPED_BYTES = 262_144_000
#: Largest body of any other control-plane request, in bytes (6 MiB, the invoke payload limit).
MAX_REQUEST_BYTES = 6 * 1024 * 1024
#: Environment variables, measured as their JSON text, in bytes.
MAX_ENVIRONMENT_BYTES = 4 * 1024
#: MemorySize range, in MB.
MIN_MEMORY_MB, MAX_MEMORY_MB = 128, 10_240
#: Timeout range, in seconds.
MIN_TIMEOUT_S, MAX_TIMEOUT_S = 1, 900
#: EphemeralStorage.Size range, in MB.
MIN_EPHEMERAL_MB, MAX_EPHEMERAL_MB = 512, 10_240
#: Layers one function may reference.
MAX_LAYERS = 5
#: Tags on one resource.
MAX_TAGS = 50
#: Concurrency that reserved concurrency may never take from the account's unreserved pool.
MIN_UNRESERVED_CONCURRENCY = 100
#: Total code storage per account and region, in bytes (75 GiB).
MAX_TOTAL_CODE_BYTES = 80_530_636_800
#: Default page size of the List operations.
DEFAULT_PAGE_SIZE = 50
#: Entries one zip (function code or layer) may hold. Not an AWS limit (AWS counts bytes only): each
#: entry costs the host an inode and the unpacker a few system calls however small it is, and 100,000
#: is several times what real packages of 250 MiB hold.
MAX_PACKAGE_ENTRIES = 100_000
#: Components an entry's path may have (its directories and its name). Not an AWS limit: the merge holds two open
#: directories per level, and real packages (node_modules included) stay far below it.
MAX_PACKAGE_DEPTH = 128
#: Longest path of an entry, in bytes of UTF-8: Linux's PATH_MAX (4096) less its NUL. A function
#: could not open a longer one by name.
MAX_ENTRY_PATH_BYTES = 4095
#: Longest component of an entry's path, and longest symlink target, in bytes (Linux's NAME_MAX,
#: and PATH_MAX less its NUL).
MAX_NAME_BYTES, MAX_LINK_TARGET_BYTES = 255, 4095
