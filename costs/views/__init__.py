"""The partner-cost pages: thin views over the services of `costs`."""
