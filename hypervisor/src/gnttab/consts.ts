/**
 * The Xen numbers the grant-table code uses (grant_table.h v1, errno.h), all from the generated ABI
 * (@pvkit/abi/layout, checked against Xen's headers), plus the sizes derived from its layouts.
 */
export {
  EPERM,
  ESRCH,
  ENOMEM,
  EFAULT,
  EINVAL,
  ENOSYS,
  DOMID_SELF,
  GTF_invalid,
  GTF_permit_access,
  GTF_accept_transfer,
  GTF_transitive,
  GTF_type_mask,
  GTF_readonly,
  GTF_reading,
  GTF_writing,
  GNTTAB_NR_RESERVED_ENTRIES,
  GNTTAB_RESERVED_CONSOLE,
  GNTTAB_RESERVED_XENSTORE,
  GNTMAP_device_map,
  GNTMAP_host_map,
  GNTMAP_readonly,
  GNTCOPY_source_gref,
  GNTCOPY_dest_gref,
  GNTST_okay,
  GNTST_general_error,
  GNTST_bad_domain,
  GNTST_bad_gntref,
  GNTST_bad_handle,
  GNTST_bad_virt_addr,
  GNTST_bad_dev_addr,
  GNTST_permission_denied,
  GNTST_bad_page,
  GNTST_bad_copy_arg,
  GNTST_no_space,
} from "@pvkit/abi/layout";

import { GrantEntryV1 } from "@pvkit/abi/layout";

export const PAGE_SIZE = 4096;
/** grant_entry_v1: u16 flags @0, u16 domid @2, u32 frame @4 — 512 entries per 4 KiB frame. */
export const GRANT_ENTRY_V1_SIZE = GrantEntryV1.size;
export const ENTRIES_PER_FRAME = PAGE_SIZE / GRANT_ENTRY_V1_SIZE;
