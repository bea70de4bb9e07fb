import type { ErrorCode } from "../core/index.js";

/** CLI exit code of an error code: 1 failure, 2 usage error, 3 not running, 4 permission denied. */
export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case "WEAVE_CONFIG":
    case "WEAVE_BAD_REQUEST":
      return 2;
    case "WEAVE_NOT_RUNNING":
      return 3;
    case "WEAVE_PERMISSION":
      return 4;
    case "WEAVE_NOT_FOUND":
    case "WEAVE_CONFLICT":
    case "WEAVE_IPAM_EXHAUSTED":
    case "WEAVE_IPAM_ADDRESS_IN_USE":
    case "WEAVE_IPAM_POOL_OVERLAP":
    case "WEAVE_UNSUPPORTED":
    case "WEAVE_DATAPLANE":
    case "WEAVE_STATE":
    case "WEAVE_DOCKER":
    case "WEAVE_TIMEOUT":
    case "WEAVE_INTERNAL":
      return 1;
  }
}
