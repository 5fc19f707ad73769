/**
 * vmxnet: pvkit's paravirtual network device, following VMware vmxnet3's design and carried over
 * grants and event channels with a xenbus handshake (docs/abi.md, "The vmxnet device").
 *
 * Buffer pages are not grant-copied per frame: the frontend grants a fixed pool of pages, the
 * backend maps each once on first use and keeps it mapped until the queue disconnects (as blkif's
 * feature-persistent), copying each frame out of or into those pages.
 *
 * Per queue the frontend (guest) owns five rings and one control page, each one granted 4 KiB page:
 * a tx command ring and a tx completion ring, two rx command rings (ring 0: head buffers, ring 1:
 * body buffers for frames larger than one buffer) and one rx completion ring. Command rings are
 * filled by the frontend and consumed by the backend; completion rings the other way round. Nobody
 * shares a consumer index: a descriptor belongs to its consumer when its GEN bit equals the ring's
 * current generation, which flips each time the producer wraps (vmxnet3's generation bits). The
 * GEN-carrying `flags` word is the last word of every descriptor and is written last.
 *
 * vmxnet3 packs these fields into C bitfields of u32 words; here every field is an explicit
 * u8/u16/u32 and the single-bit ones are named bit constants in a `flags` word.
 */
import { constants, struct } from "../schema.ts";

export const vmxnetTxDesc = struct({
  name: "vmxnet_tx_desc",
  origin: "pvkit",
  doc:
    "Tx command descriptor: one fragment of an outgoing frame in a granted page. A frame is " +
    "1..VMXNET_MAX_TX_DESC_PER_PKT consecutive descriptors, the last with VMXNET_TXD_EOP; offload " +
    "fields are read from the first (SOP) descriptor, whose flags word the frontend writes last.",
  size: 16,
  fields: [
    {
      name: "gref",
      type: "u32",
      doc: "Grant ref of the page holding the fragment; the backend maps it once and keeps it mapped.",
    },
    { name: "offset", type: "u16", doc: "Byte offset of the fragment in the page." },
    { name: "len", type: "u16", doc: "Fragment bytes; offset + len <= 4096." },
    {
      name: "hdr_len",
      type: "u16",
      doc:
        "OM_CSUM: offset where checksumming starts (L4 header), inside the frame; OM_TSO: L2+L3+L4 " +
        "header bytes, exactly what the frame's headers say.",
    },
    {
      name: "msscof",
      type: "u16",
      doc:
        "OM_CSUM: offset to store the checksum at (hdr_len + csum offset; the field holds the " +
        "pseudo-header sum); OM_TSO: the MSS, 1..(MTU + 18 - hdr_len). Bad values drop the frame.",
    },
    { name: "tci", type: "u16", doc: "VLAN tag control info to insert when VMXNET_TXD_TI is set." },
    {
      name: "flags",
      type: "u16",
      doc: "VMXNET_TXD_EOP/CQ/TI, offload mode in VMXNET_TXD_OM_MASK << VMXNET_TXD_OM_SHIFT, VMXNET_TXD_GEN.",
    },
  ],
});

export const vmxnetTxCompDesc = struct({
  name: "vmxnet_tx_comp_desc",
  origin: "pvkit",
  doc:
    "Tx completion: the backend has sent (or dropped) the frame whose EOP descriptor is `txd_idx`; " +
    "every descriptor up to and including it may be reused and its grants ended.",
  size: 8,
  fields: [
    { name: "txd_idx", type: "u32", doc: "Index of the frame's EOP descriptor in the tx ring." },
    { name: "status", type: "u16", doc: "VMXNET_TXC_* result." },
    { name: "flags", type: "u16", doc: "VMXNET_TXC_GEN." },
  ],
});

export const vmxnetRxDesc = struct({
  name: "vmxnet_rx_desc",
  origin: "pvkit",
  doc:
    "Rx command descriptor: an empty buffer the backend may fill (it maps the page once and keeps " +
    "it mapped, as blkif's feature-persistent, then copies frames in). Ring 0 holds " +
    "head buffers (VMXNET_RXD_BTYPE_HEAD), ring 1 body buffers for the rest of large frames.",
  size: 16,
  fields: [
    {
      name: "gref",
      type: "u32",
      doc: "Grant ref of the buffer's page (writable grant); mapped once by the backend and kept.",
    },
    { name: "offset", type: "u16", doc: "Byte offset of the buffer in the page." },
    { name: "len", type: "u16", doc: "Buffer bytes; offset + len <= 4096." },
    { name: "rsvd", type: { array: "u8", length: 6 }, doc: "Reserved, 0." },
    { name: "flags", type: "u16", doc: "VMXNET_RXD_BTYPE_BODY (else head), VMXNET_RXD_GEN." },
  ],
});

export const vmxnetRxCompDesc = struct({
  name: "vmxnet_rx_comp_desc",
  origin: "pvkit",
  doc:
    "Rx completion: the backend wrote `len` bytes into buffer `rxd_idx` of rx ring `ring_id`. A " +
    "frame is the completions from the one with VMXNET_RXC_SOP to the one with VMXNET_RXC_EOP; " +
    "RSS, VLAN and checksum results are valid on the EOP completion.",
  size: 16,
  fields: [
    { name: "rxd_idx", type: "u16", doc: "Index of the filled descriptor in its rx ring." },
    { name: "ring_id", type: "u8", doc: "0: head ring, 1: body ring." },
    { name: "rss_type", type: "u8", doc: "VMXNET_RSS_TYPE_* of rss_hash." },
    { name: "rss_hash", type: "u32", doc: "RSS hash of the frame (when rss_type is not NONE)." },
    { name: "len", type: "u16", doc: "Bytes written into the buffer." },
    { name: "tci", type: "u16", doc: "Stripped VLAN tag when VMXNET_RXC_TS is set." },
    { name: "csum", type: "u16", doc: "Raw ones'-complement checksum of the L4 payload, if computed." },
    {
      name: "flags",
      type: "u16",
      doc: "VMXNET_RXC_SOP/EOP/ERR/TS/IPC/TUC/TCP/UDP/V4/V6/FRG/CNC and VMXNET_RXC_GEN.",
    },
  ],
});

export const vmxnetQueueCtrl = struct({
  name: "vmxnet_queue_ctrl",
  origin: "pvkit",
  doc:
    "Per-queue control page shared by frontend and backend (vmxnet3's queue control blocks plus " +
    "the producer-index doorbell registers, which live in memory here). The frontend writes the " +
    "producer indices and notifies the queue's event channel only when needed: tx when " +
    "tx_num_deferred reaches tx_threshold, rx when update_rx_prod is set.",
  size: 64,
  fields: [
    { name: "tx_prod", type: "u32", doc: "Frontend: next tx descriptor index it will fill (TXPROD)." },
    { name: "tx_num_deferred", type: "u32", doc: "Frontend: frames queued since the last notify." },
    { name: "tx_threshold", type: "u32", doc: "Backend: notify once this many frames are deferred." },
    { name: "rx_prod", type: { array: "u32", length: 2 }, doc: "Frontend: next index per rx ring (RXPROD)." },
    { name: "update_rx_prod", type: "u32", doc: "Backend: 1 when it wants a notify for new rx buffers." },
    { name: "intr_mask", type: "u32", doc: "Frontend: VMXNET_INTR_* notifications it does not want now." },
    { name: "intr_mod_level", type: "u32", doc: "Frontend: VMXNET_IMM_* interrupt moderation level." },
    { name: "intr_coalesce_usecs", type: "u32", doc: "Frontend: max delay of a notify (VMXNET_IMM_USECS)." },
    { name: "status", type: "u32", doc: "Backend: VMXNET_QSTATUS_* bits." },
    { name: "error", type: "u32", doc: "Backend: errno (positive) that stopped the queue, else 0." },
    { name: "rsvd", type: { array: "u8", length: 20 }, doc: "Reserved, 0." },
  ],
});

export const vmxnetTxd = constants({
  name: "VMXNET_TXD",
  origin: "pvkit",
  doc: "vmxnet_tx_desc.flags bits and offload modes (values of the OM field are vmxnet3's).",
  values: [
    { name: "VMXNET_TXD_EOP", value: 1 << 0, doc: "Last descriptor of the frame." },
    { name: "VMXNET_TXD_CQ", value: 1 << 1, doc: "Write a tx completion for this frame (set on EOP)." },
    { name: "VMXNET_TXD_TI", value: 1 << 2, doc: "Insert the VLAN tag in `tci`." },
    { name: "VMXNET_TXD_OM_SHIFT", value: 4, doc: "Shift of the offload mode field." },
    { name: "VMXNET_TXD_OM_MASK", value: 0x3, doc: "Mask of the offload mode field (after shifting)." },
    { name: "VMXNET_TXD_GEN", value: 1 << 15, doc: "Generation bit." },
    { name: "VMXNET_OM_NONE", value: 0, doc: "No offload." },
    { name: "VMXNET_OM_CSUM", value: 2, doc: "Checksum offload: hdr_len = start, msscof = where to store." },
    { name: "VMXNET_OM_TSO", value: 3, doc: "TCP segmentation offload: hdr_len = headers, msscof = MSS." },
  ],
});

export const vmxnetTxc = constants({
  name: "VMXNET_TXC",
  origin: "pvkit",
  doc: "vmxnet_tx_comp_desc fields.",
  values: [
    { name: "VMXNET_TXC_OK", value: 0, doc: "Sent." },
    { name: "VMXNET_TXC_ERROR", value: 1, doc: "Dropped: a bad grant, length or offload request." },
    { name: "VMXNET_TXC_GEN", value: 1 << 15, doc: "Generation bit." },
  ],
});

export const vmxnetRxd = constants({
  name: "VMXNET_RXD",
  origin: "pvkit",
  doc: "vmxnet_rx_desc.flags bits.",
  values: [
    { name: "VMXNET_RXD_BTYPE_BODY", value: 1 << 0, doc: "A body buffer (ring 1); clear: head buffer." },
    { name: "VMXNET_RXD_GEN", value: 1 << 15, doc: "Generation bit." },
  ],
});

export const vmxnetRxc = constants({
  name: "VMXNET_RXC",
  origin: "pvkit",
  doc: "vmxnet_rx_comp_desc.flags bits.",
  values: [
    { name: "VMXNET_RXC_SOP", value: 1 << 0, doc: "First buffer of a frame." },
    { name: "VMXNET_RXC_EOP", value: 1 << 1, doc: "Last buffer of a frame." },
    { name: "VMXNET_RXC_ERR", value: 1 << 2, doc: "The frame is bad (drop it)." },
    { name: "VMXNET_RXC_TS", value: 1 << 3, doc: "A VLAN tag was stripped into `tci`." },
    { name: "VMXNET_RXC_IPC", value: 1 << 4, doc: "IPv4 header checksum verified correct." },
    { name: "VMXNET_RXC_TUC", value: 1 << 5, doc: "TCP/UDP checksum verified correct." },
    { name: "VMXNET_RXC_TCP", value: 1 << 6, doc: "The frame is TCP." },
    { name: "VMXNET_RXC_UDP", value: 1 << 7, doc: "The frame is UDP." },
    { name: "VMXNET_RXC_V4", value: 1 << 8, doc: "The frame is IPv4." },
    { name: "VMXNET_RXC_V6", value: 1 << 9, doc: "The frame is IPv6." },
    { name: "VMXNET_RXC_FRG", value: 1 << 10, doc: "The frame is an IP fragment." },
    { name: "VMXNET_RXC_CNC", value: 1 << 11, doc: "Checksum not calculated: the guest must check." },
    { name: "VMXNET_RXC_GEN", value: 1 << 15, doc: "Generation bit." },
  ],
});

export const vmxnetRss = constants({
  name: "VMXNET_RSS_TYPE",
  origin: "pvkit",
  doc: "vmxnet_rx_comp_desc.rss_type (vmxnet3's values).",
  values: [
    { name: "VMXNET_RSS_TYPE_NONE", value: 0, doc: "No hash." },
    { name: "VMXNET_RSS_TYPE_IPV4", value: 1, doc: "Hash of IPv4 addresses." },
    { name: "VMXNET_RSS_TYPE_TCP_IPV4", value: 2, doc: "Hash of IPv4 addresses and TCP ports." },
    { name: "VMXNET_RSS_TYPE_IPV6", value: 3, doc: "Hash of IPv6 addresses." },
    { name: "VMXNET_RSS_TYPE_TCP_IPV6", value: 4, doc: "Hash of IPv6 addresses and TCP ports." },
  ],
});

export const vmxnetQueue = constants({
  name: "VMXNET_QUEUE",
  origin: "pvkit",
  doc: "vmxnet_queue_ctrl bits and interrupt moderation levels.",
  values: [
    { name: "VMXNET_INTR_TX", value: 1 << 0, doc: "intr_mask: no tx-completion notifications." },
    { name: "VMXNET_INTR_RX", value: 1 << 1, doc: "intr_mask: no rx-completion notifications." },
    { name: "VMXNET_IMM_NONE", value: 0, doc: "Notify for every completion." },
    { name: "VMXNET_IMM_ADAPTIVE", value: 1, doc: "The backend adapts the delay to the load." },
    { name: "VMXNET_IMM_USECS", value: 2, doc: "Notify at most every intr_coalesce_usecs." },
    { name: "VMXNET_QSTATUS_STOPPED", value: 1 << 0, doc: "The backend stopped the queue." },
    { name: "VMXNET_QSTATUS_ERROR", value: 1 << 1, doc: "The queue hit an error (see `error`)." },
  ],
});

export const vmxnetLimits = constants({
  name: "VMXNET_LIMITS",
  origin: "pvkit",
  doc: "Ring sizes (each ring is one granted page) and device limits.",
  values: [
    { name: "VMXNET_TX_RING_SIZE", value: 256, doc: "Tx descriptors (16 bytes each)." },
    { name: "VMXNET_TX_COMP_RING_SIZE", value: 256, doc: "Tx completions (8 bytes each): one per tx slot." },
    { name: "VMXNET_RX_RING_SIZE", value: 128, doc: "Descriptors in each of the two rx rings (16 bytes)." },
    { name: "VMXNET_RX_COMP_RING_SIZE", value: 256, doc: "Rx completions (16 bytes): both rx rings' worth." },
    { name: "VMXNET_MAX_QUEUES", value: 8, doc: "Queue pairs per device (multi-queue-max-queues)." },
    { name: "VMXNET_MAX_TX_DESC_PER_PKT", value: 16, doc: "Descriptors in one tx frame." },
    {
      name: "VMXNET_MAX_FRAME",
      value: 65535 + 14 + 4,
      doc: "Largest TSO frame: 64 KiB IP + Ethernet + VLAN.",
    },
    { name: "VMXNET_MAX_MTU", value: 9000, doc: "Largest MTU." },
    { name: "VMXNET_RX_BUF_SIZE", value: 2048, doc: "Default rx buffer size (two per page)." },
  ],
});

export const vmxnetFeatures = constants({
  name: "VMXNET_F",
  origin: "pvkit",
  doc: "Feature bits, advertised by the backend in xenstore `features` and acked by the frontend.",
  values: [
    { name: "VMXNET_F_RXCSUM", value: 1 << 0, doc: "Rx checksum validation (IPC/TUC flags)." },
    { name: "VMXNET_F_TXCSUM", value: 1 << 1, doc: "Tx checksum offload (VMXNET_OM_CSUM)." },
    { name: "VMXNET_F_TSO", value: 1 << 2, doc: "TCP segmentation offload (VMXNET_OM_TSO)." },
    { name: "VMXNET_F_LRO", value: 1 << 3, doc: "Large receive: body ring used for merged segments." },
    { name: "VMXNET_F_RSS", value: 1 << 4, doc: "Receive-side scaling over several queues." },
    { name: "VMXNET_F_RXVLAN", value: 1 << 5, doc: "VLAN tag stripping (VMXNET_RXC_TS)." },
    { name: "VMXNET_F_TXVLAN", value: 1 << 6, doc: "VLAN tag insertion (VMXNET_TXD_TI)." },
    { name: "VMXNET_F_MULTIQUEUE", value: 1 << 7, doc: "More than one queue pair." },
  ],
});
