/**
 * Xen numbers the grant-table code uses (grant_table.h v1, errno.h; x86_64). Values are Xen's;
 * when @pvkit/abi/layout carries all of them this file shrinks to re-exports.
 */

/** Xen errno values (positive; a hypercall returns them negated). */
export const EPERM = 1;
export const ESRCH = 3;
export const ENOMEM = 12;
export const EFAULT = 14;
export const EINVAL = 22;
export const ENOSYS = 38;

export const DOMID_SELF = 0x7ff0;
export const PAGE_SIZE = 4096;

/** grant_entry_v1: u16 flags @0, u16 domid @2, u32 frame @4 — 512 entries per 4 KiB frame. */
export const GRANT_ENTRY_V1_SIZE = 8;
export const ENTRIES_PER_FRAME = PAGE_SIZE / GRANT_ENTRY_V1_SIZE;

/** grant_entry_v1.flags. */
export const GTF_invalid = 0;
export const GTF_permit_access = 1;
export const GTF_accept_transfer = 2;
export const GTF_transitive = 3;
export const GTF_type_mask = 3;
export const GTF_readonly = 1 << 2;
export const GTF_reading = 1 << 3;
export const GTF_writing = 1 << 4;

/** The first entries a toolstack may fill before the guest boots (xc_dom_gnttab_init). */
export const GNTTAB_NR_RESERVED_ENTRIES = 8;
export const GNTTAB_RESERVED_CONSOLE = 0;
export const GNTTAB_RESERVED_XENSTORE = 1;

/** gnttab_map_grant_ref.flags. */
export const GNTMAP_device_map = 1 << 0;
export const GNTMAP_host_map = 1 << 1;
export const GNTMAP_readonly = 1 << 2;

/** gnttab_copy.flags. */
export const GNTCOPY_source_gref = 1 << 0;
export const GNTCOPY_dest_gref = 1 << 1;

/** Per-op status (grant_status). */
export const GNTST_okay = 0;
export const GNTST_general_error = -1;
export const GNTST_bad_domain = -2;
export const GNTST_bad_gntref = -3;
export const GNTST_bad_handle = -4;
export const GNTST_bad_virt_addr = -5;
export const GNTST_bad_dev_addr = -6;
export const GNTST_permission_denied = -8;
export const GNTST_bad_page = -9;
export const GNTST_bad_copy_arg = -10;
export const GNTST_no_space = -13;
