"""fnl-deploy: mail, agenda and DNS for small communes, from one tenant file each."""

__version__ = "0.1.0"
