"""The partner-cost API: thin DRF views over the services of `costs`."""
