/**
 * `@clusteros/slurm`: the building blocks of ClusterOS's SLURM roles.
 *
 * - which ClusterOS members become SLURM nodes, and how (`slurmNodesFromMembers`);
 * - `slurm.conf`, `gres.conf` and `cgroup.conf` rendered from a typed cluster model, every value
 *   validated so that nothing in the model can break or extend the files;
 * - parsers for `squeue --json`, `sinfo --json`, `scontrol -o show`, `scontrol ping` and
 *   `sacct -P` (SLURM 22.05), with the quirks of that version handled;
 * - the cluster's munge key: creation, a value that never prints, and a private key file;
 * - starting munged, slurmctld and slurmd in the foreground and waiting, bounded, until each
 *   serves, with failures reported from the daemons' own logs; client commands with timeouts;
 * - the stable controller address (a managed hosts-file block) and the controller's state packed
 *   and unpacked for handoffs;
 * - a cached overview of the cluster (controller, nodes, jobs) for the dashboard, falling back to
 *   squeue's and sinfo's text forms when their JSON fails.
 *
 * The `slurm-controller` and `slurm-worker` roles (daemon supervision and the controller handoff)
 * build on these.
 *
 * @packageDocumentation
 */
export * from './cluster/index.js';
export * from './conf/index.js';
export * from './daemons/index.js';
export * from './hosts/index.js';
export * from './munge/index.js';
export * from './parse/index.js';
export * from './roles/index.js';
export * from './state/index.js';
export * from './status/index.js';
