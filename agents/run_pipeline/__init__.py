"""RunPipeline: runs taken by a DAQ are moved to a cluster, processed there by a batch
system, then compressed and archived, all coordinated by one runs database (the job
Fulliautomatix did for ASTERIX). See README.md."""
