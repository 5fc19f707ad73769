/**
 * XenBus device states (xen/io/xenbus.h, `enum xenbus_state`): each end of a split device writes
 * its state to its xenstore `state` node and watches the peer's, walking the handshake
 * Initialising → InitWait → Initialised → Connected → Closing → Closed.
 */
import { constants } from "../schema.ts";

export const xenbusState = constants({
  name: "XenbusState",
  origin: "xen",
  header: "xen/io/xenbus.h",
  doc: "Values of a device end's xenstore `state` node (written as decimal strings).",
  values: [
    { name: "XenbusStateUnknown", value: 0, doc: "No state node yet." },
    { name: "XenbusStateInitialising", value: 1, doc: "Starting up." },
    { name: "XenbusStateInitWait", value: 2, doc: "Early setup done; waiting for the peer or hotplug." },
    {
      name: "XenbusStateInitialised",
      value: 3,
      doc: "Ring and event channel published; waiting for the peer.",
    },
    { name: "XenbusStateConnected", value: 4, doc: "Both ends connected: the device is usable." },
    { name: "XenbusStateClosing", value: 5, doc: "Closing because of an error or unplug." },
    { name: "XenbusStateClosed", value: 6, doc: "Closed: the peer may free its resources." },
    { name: "XenbusStateReconfiguring", value: 7, doc: "Being reconfigured." },
    { name: "XenbusStateReconfigured", value: 8, doc: "Reconfiguration done." },
  ],
});
