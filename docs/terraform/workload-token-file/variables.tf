variable "token_file" {
  type        = string
  description = "The sink file of `vault-entropy agent -sink=PATH`: one line, mode 0600."
}
